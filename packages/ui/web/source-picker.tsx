import { useState } from 'preact/hooks';

export interface PickerOption {
  /** What the textbox gets: RS's `<db name>: redis://admin:<pass>@host:port`. */
  value: string;
  name: string;
}

/**
 * RS's Replica Of textbox: focusing it lists this cluster's databases with their source URLs
 * prefilled; typing filters them; a URL of another cluster's database (or any Redis) can be
 * pasted instead. An ARIA combobox: arrows move, Enter picks, Escape closes.
 */
export function SourcePicker(props: {
  id: string;
  value: string;
  onChange(v: string): void;
  options: PickerOption[];
}) {
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const q = props.value.trim().toLowerCase();
  const shown = props.options.filter(
    (o) => !q || o.value.toLowerCase().includes(q) || props.options.some((x) => x.value === props.value),
  );
  const listId = `${props.id}-list`;
  const pick = (o: PickerOption) => {
    props.onChange(o.value);
    setOpen(false);
    setActive(-1);
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      setOpen(true);
      setActive((i) => Math.min(shown.length - 1, i + 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setActive((i) => Math.max(0, i - 1));
    } else if (e.key === 'Enter' && open && active >= 0 && shown[active]) {
      e.preventDefault();
      pick(shown[active]!);
    } else if (e.key === 'Escape' && open) {
      e.preventDefault();
      setOpen(false);
    }
  };
  const expanded = open && shown.length > 0;
  return (
    <div class="combo">
      <input
        id={props.id}
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={expanded}
        aria-controls={listId}
        aria-activedescendant={expanded && active >= 0 ? `${listId}-${active}` : undefined}
        aria-describedby={`${props.id}-hint`}
        autocomplete="off"
        spellcheck={false}
        placeholder="pick a database of this cluster, or paste redis://…"
        value={props.value}
        onFocus={() => setOpen(true)}
        onBlur={() => setOpen(false)}
        onInput={(e) => {
          props.onChange(e.currentTarget.value);
          setOpen(true);
          setActive(-1);
        }}
        onKeyDown={onKey}
      />
      <div
        id={listId}
        role="listbox"
        aria-label="Databases of this cluster"
        class="combo-list"
        hidden={!expanded}
      >
        {shown.map((o, i) => (
          <div
            key={o.value}
            tabIndex={-1}
            id={`${listId}-${i}`}
            role="option"
            aria-selected={i === active}
            class={i === active ? 'active' : ''}
            // mousedown, not click: the input's blur would close the list first.
            onMouseDown={(e) => {
              e.preventDefault();
              pick(o);
            }}
          >
            {o.value}
          </div>
        ))}
      </div>
    </div>
  );
}

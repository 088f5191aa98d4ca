import { type ErrorCode, ErrorCodes, MinirsError } from '@minirs/common';

/**
 * An API error with the HTTP status and `error_code` RS documents for it (`uid_exists`,
 * `port_unavailable`, `invalid_data_persistence`, ...). The body carries RS's code as
 * `error_code` and ours as `minirs_error_code`, so RS automation and minirs tools both match.
 */
export class RsApiError extends MinirsError {
  constructor(
    readonly status: number,
    readonly rsCode: string,
    code: ErrorCode,
    message: string,
    field?: string,
  ) {
    super(code, message, { field });
    this.name = 'RsApiError';
  }

  override toJSON(): { error_code: string; message: string; field?: string } {
    const body: { error_code: string; message: string; field?: string; minirs_error_code: string } = {
      error_code: this.rsCode,
      message: this.message,
      minirs_error_code: this.code,
    };
    if (this.field) body.field = this.field;
    return body;
  }
}

/** A body field minirs does not know (RS has no such field either): 400 naming it. */
export function unknownField(path: string, hint: string): RsApiError {
  return new RsApiError(
    400,
    'invalid_schema',
    ErrorCodes.INVALID_ARGUMENT,
    `unknown field ${path}: neither RS nor minirs has it${hint}; remove it`,
    path,
  );
}

/** A field RS has that minirs does not implement (or not with this value): 400 naming it. */
export function unsupportedField(path: string, why: string): RsApiError {
  return new RsApiError(400, 'unsupported_field', ErrorCodes.UNSUPPORTED, `${path}: ${why}`, path);
}

/** The RS error_code for a validation failure of one of these fields, where RS's docs name one. */
export const RS_CODE_BY_FIELD: Record<string, string> = {
  uid: 'uid_exists',
  port: 'port_unavailable',
  sharding: 'invalid_sharding',
  shard_key_regex: 'invalid_sharding',
  shards_count: 'invalid_sharding',
  data_persistence: 'invalid_data_persistence',
  aof_policy: 'invalid_data_persistence',
  snapshot_policy: 'invalid_data_persistence',
  authentication_ssl_client_certs: 'invalid_certificate',
  memory_size: 'insufficient_resources',
};

/** `{error_code, message, field?}` of a MinirsError, with RS's error_code where one applies. */
export function errorBody(err: MinirsError): Record<string, unknown> {
  if (err instanceof RsApiError) return err.toJSON() as Record<string, unknown>;
  const base = err.toJSON() as Record<string, unknown>;
  const field = err.field?.split(/[.[]/)[0];
  let rs = field ? RS_CODE_BY_FIELD[field] : undefined;
  if (err.field === 'name' && /missing|required/i.test(err.message)) rs = 'missing_db_name';
  if (
    rs &&
    (err.code === ErrorCodes.INVALID_ARGUMENT ||
      err.code === ErrorCodes.PORT_IN_USE ||
      err.code === ErrorCodes.CONFLICT)
  ) {
    return { ...base, error_code: rs, minirs_error_code: err.code };
  }
  return { ...base, minirs_error_code: err.code };
}

/** A 404 for a path naming a node, shard, action ... that does not exist. */
export function notFound(what: string, uid: number | string): MinirsError {
  return new MinirsError(ErrorCodes.NOT_FOUND, `${what} ${uid} does not exist`);
}

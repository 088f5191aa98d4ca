# A stand-in for the official redis:7 image, built from the same base as the minirs image with
# Debian's redis-server (7.0): the external source of the container tests where no registry is
# reachable. Users' machines use redis:7 itself (docker/compose.yaml). As there, arguments that
# start with "-" go to redis-server, anything else is run as a command.
ARG BASE=node:20-bookworm-slim
FROM ${BASE}
RUN if ! command -v redis-server >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends redis-server \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
 && mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
VOLUME /data
EXPOSE 6379
ENTRYPOINT ["/bin/sh", "-c", "if [ \"${1#-}\" != \"$1\" ]; then set -- redis-server \"$@\"; fi; exec \"$@\"", "--"]
CMD ["redis-server", "--protected-mode", "no"]

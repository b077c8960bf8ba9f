# shipper in a container. Build at the top of the repository:  docker build -t shipper .
# docs/running.md ("Container") shows `docker run`; deploy/kubernetes/ runs it as a sidecar.
FROM python:3.12-slim

# Nothing is written next to the code at run time (the root file system may be read-only).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The package and its runtime dependencies only: no test or bench extras in the image.
COPY pyproject.toml README.md LICENSE /src/
COPY shipper /src/shipper
RUN pip install /src && rm -rf /src

# A fixed, numeric user: Kubernetes' runAsNonRoot can only prove a numeric USER is not root.
RUN groupadd --system --gid 10001 shipper \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /var/lib/shipper --shell /usr/sbin/nologin shipper \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/shipper \
 && install -d -m 0755 /etc/shipper

# Mount the config at /etc/shipper/config.toml (a file, or a ConfigMap as the directory).
# The webhook URLs come from the environment (--env-file, or a Secret), never the image.
# shipper's default state_dir is $STATE_DIRECTORY, as under systemd: the volume below.
ENV SHIPPER_CONFIG=/etc/shipper/config.toml \
    STATE_DIRECTORY=/var/lib/shipper

# The backlogs, read position and dead letters: keep this volume, or events wait in vain.
VOLUME ["/var/lib/shipper"]
USER 10001:10001

# On SIGTERM shipper stops reading and delivers what is queued for up to drain_timeout
# (30s by default): give `docker stop` more than that (--time 40).
STOPSIGNAL SIGTERM
# No HEALTHCHECK: /healthz exists only when the mounted config has [metrics] listen.
# Kubernetes probes /livez directly (deploy/kubernetes/).
# The image's command is shipper itself and `run` is only the default, so every other
# command runs in the same image with the same config and state:
#   docker run --rm --env-file shipper.env -v ...config.toml:/etc/shipper/config.toml:ro shipper check
#   docker exec shipper shipper replay security        (in the running container)
# Arguments after the image name replace `run`: start them with the command, e.g.
#   docker run ... shipper run --log-format json
ENTRYPOINT ["shipper"]
CMD ["run"]

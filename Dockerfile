# shipper in a container. Build at the top of the repository:  docker build -t shipper .
# README.md ("Running as a service") shows `docker run`; deploy/kubernetes/ runs it as a sidecar.
FROM python:3.12-slim

# Nothing is written next to the code at run time (the root file system may be read-only).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The package and its runtime dependencies only: no test or bench extras in the image.
COPY pyproject.toml README.md /src/
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
# Kubernetes probes it directly (deploy/kubernetes/).
ENTRYPOINT ["shipper", "run"]

# grove's container image: docker build -t grove . (also podman build / buildah bud).
#
# Stage 1 builds the `grove` binary on Debian 12 with the project's own dependency script;
# stage 2 is FROM scratch and holds only what serving needs: the binary, exactly the shared
# libraries it links (as ldd lists them), ui/ and models/, and a passwd line for the
# non-root user. No shell, no package manager: about 12 MB (see bench/RESULTS.md).
#
# Run:  docker run --rm -p 8080:8080 grove          (the bundled models)
#       docker run --rm -p 8080:8080 -v "$PWD/my_models:/models:ro" -e GROVE_MODELS=/models grove
# PORT and every GROVE_* variable work as outside the container (`grove serve --help`).
ARG DEBIAN_IMAGE=docker.io/library/debian:12

FROM ${DEBIAN_IMAGE} AS build
WORKDIR /src
# The dependencies first, so that a source change does not reinstall them.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . .
# scripts/build.sh's configuration (release, warnings are errors), but only the one target
# the image needs: the tests and benchmarks are not built here.
RUN meson setup /build --werror -Dbuildtype=release >/dev/null && ninja -C /build grove
# The runtime tree in /rootfs: every library ldd resolves, at the path it resolved to
# (the ELF interpreter included), so the dynamic loader finds them without ld.so.cache.
RUN set -eu; \
    r=/rootfs; \
    mkdir -p "$r/usr/bin" "$r/srv/grove" "$r/etc" "$r/tmp"; \
    install -m 0755 -s /build/grove "$r/usr/bin/grove"; \
    for lib in $(ldd /build/grove | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do \
      mkdir -p "$r$(dirname "$lib")"; \
      cp -L "$lib" "$r$lib"; \
    done; \
    cp -R ui models "$r/srv/grove/"; \
    for m in "$r"/srv/grove/models/*/; do /build/grove compile "$m"; done; \
    chmod -R a+rX,go-w "$r/srv/grove"; \
    chmod 1777 "$r/tmp"; \
    echo 'grove:x:10001:10001:grove:/srv/grove:/sbin/nologin' > "$r/etc/passwd"; \
    echo 'grove:x:10001:' > "$r/etc/group"; \
    test -x "$r/usr/bin/grove"; \
    chroot "$r" /usr/bin/grove version

FROM scratch
COPY --from=build /rootfs/ /
# A numeric user, so that Kubernetes' runAsNonRoot can check it without a passwd lookup.
USER 10001:10001
WORKDIR /srv/grove
EXPOSE 8080
# SIGTERM: readiness turns false, in-flight requests finish within --shutdown-grace
# (default 25 s, as Heroku kills after 30 s; `docker stop` waits 10 s unless given -t 30),
# then exit 0.
STOPSIGNAL SIGTERM
# `grove health` GETs /v2/health/ready on loopback at $GROVE_PORT/$PORT (no curl needed).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/bin/grove", "health"]
# Exec form: grove is PID 1 and gets the signals itself. Heroku wraps CMD in /bin/sh -c
# only when there is no ENTRYPOINT; this image has no shell, so it sets one.
ENTRYPOINT ["/usr/bin/grove"]
CMD ["serve"]

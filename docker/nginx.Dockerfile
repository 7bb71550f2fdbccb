# Load balancer for several replicas of the app (compose profile "scale"): Debian's nginx
# with docker/nginx.conf (sticky sessions, websocket upgrade). Build context: docker/.
#
#   docker build -f docker/nginx.Dockerfile -t lenet5-balancer docker/
#   docker/build.sh --balancer          # the same, with the stand-in base when needed
#
# BASE: any Debian bookworm image with python3 (the health check uses it). The default is
# the app's base, so the two images share it; docker/build-standin-base.sh builds a
# stand-in when Docker Hub is out of reach (apt inside then uses the host's mirror).
ARG BASE=python:3.11-slim
FROM ${BASE}

RUN set -eu; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
           /var/log/nginx/* /etc/nginx/sites-enabled /etc/nginx/conf.d /var/www/html; \
    nginx -v

COPY nginx.conf /etc/nginx/nginx.conf

# www-data exists in every Debian image; nginx needs no privilege to listen on 8080
USER www-data
EXPOSE 8080
STOPSIGNAL SIGQUIT

HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8080/lb-health', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

# -e stderr: nginx must not try its compiled-in log file before reading the configuration
CMD ["nginx", "-e", "stderr", "-g", "daemon off;"]

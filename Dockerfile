# The prediction service image: `docker build -t credit-risk-service .` (docker-compose.yml builds it).
# Dependencies are installed in their own layer from pyproject.toml at constraints.txt's exact versions
# (what `make install` gets), so editing code does not reinstall onnxruntime; the app runs as an unprivileged user from a virtualenv.
# The base image is pinned to an exact Python patch release and Debian release, in both stages
# (tests/config/test_compose.py refuses floating tags); bump it deliberately.
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
 && pip install -c constraints.txt -r /tmp/requirements.txt
COPY . .
# The installed package must carry the bundled model (package data), checked outside /src.
RUN pip install --no-deps . \
 && cd / && python -c "import service.config as c; assert c.DEFAULT_MODEL_PATH.is_file(), c.DEFAULT_MODEL_PATH"

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TELEMETRY_DIR=/tmp/telemetry
WORKDIR /tmp
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=2)"]
CMD ["python", "-m", "service", "--host", "0.0.0.0", "--port", "8000"]

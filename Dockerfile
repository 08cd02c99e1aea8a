# aoa headless gateway: one OpenAI-compatible endpoint in front of Azure OpenAI, Yi, Gemini, ...
#   docker build -t aoa .
#   docker run --rm -p 127.0.0.1:8080:8080 -e AZURE_ENDPOINT=... -e AZURE_API_KEY=... aoa
# Configured only by environment variables (see `docker run --rm aoa --help`).

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# ---- build stage: install the package into a self-contained venv (no desktop extra) ----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/aoa
WORKDIR /src
COPY pyproject.toml README.md ./
COPY aoa_proxy ./aoa_proxy
COPY aoa_desktop ./aoa_desktop
RUN /opt/aoa/bin/pip install . \
 && /opt/aoa/bin/pip uninstall -y -q pip setuptools \
 && /opt/aoa/bin/aoa-proxy --version

# ---- final stage: the venv only; no compilers, no pip, no sources ----------------------------
FROM ${PYTHON_IMAGE}
# The official image ships pip; the gateway never installs anything at run time, so drop it.
RUN groupadd --system --gid 10001 aoa \
 && useradd --system --uid 10001 --gid aoa --no-create-home --shell /usr/sbin/nologin aoa \
 && if python -m pip --version >/dev/null 2>&1; then \
      python -m pip uninstall -y -q --break-system-packages pip; fi
COPY --from=build /opt/aoa /opt/aoa
ENV PATH=/opt/aoa/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AOA_HOST=0.0.0.0 \
    AOA_PORT=8080
USER 10001:10001
EXPOSE 8080
# python, not curl: the slim image has no curl. Follows AOA_PORT if it is overridden.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('AOA_PORT', '8080') + '/health', timeout=4)"]
ENTRYPOINT ["aoa-proxy"]

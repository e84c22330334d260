# eventeye: one image for `serve`, `api`, `worker` and `migrate`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 eventeye
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
USER eventeye
WORKDIR /home/eventeye
ENV EVENTEYE_DATA_DIR=/home/eventeye/data \
    EVENTEYE_HOST=0.0.0.0 \
    EVENTEYE_LOG_FORMAT=json
VOLUME ["/home/eventeye/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
ENTRYPOINT ["eventeye"]
CMD ["serve"]

# activitylog: one image for the worker, the API and the init job.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY activitylog ./activitylog
COPY common ./common
COPY schemas ./schemas
COPY producers ./producers
COPY processors ./processors
COPY query ./query
RUN pip install -c constraints.txt . \
 && useradd --system --uid 10001 --home-dir /var/lib/activitylog --create-home activitylog \
 && install -d -o activitylog -g activitylog /var/lib/activitylog/exports
USER activitylog
WORKDIR /var/lib/activitylog
ENTRYPOINT ["activitylog"]
CMD ["api"]

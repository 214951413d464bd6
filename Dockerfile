# The Closeout application image: the API, the worker and the migrations run from it.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY closeout ./closeout
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY cli ./cli
COPY templates ./templates
COPY static ./static
COPY worker.py ./
# The mount points of the compose file's volumes, owned by the user the processes run as: a
# fresh named volume takes the ownership of the folder it is mounted on.
RUN pip install --no-cache-dir . && useradd --system --user-group --home /app closeout \
    && mkdir -p /data/archive /data/var /data/ledger \
    && chown closeout:closeout /data/archive /data/var /data/ledger
USER closeout
EXPOSE 8000
CMD ["closeout", "api", "--host", "0.0.0.0"]

# syntax=docker/dockerfile:1
# The harness as a container image: for runs inside a cluster (clusters/incluster/: the suites
# as a Job, locust workers as a Deployment, a helm test hook) and for CI.
#
#   docker build -t eg-harness:$(git rev-parse --short HEAD) .
#   kind load docker-image eg-harness:<tag> --name <cluster>     # or push to your registry
#
# The wheel carries the scenarios and cluster definitions (eg_harness.scenarios,
# eg_harness.clusters), installed with the project's lock as constraints, so the image runs
# exactly the pins the project tests. The targets it serves from inside a cluster are
# `existing` ones (cluster-internal service URLs); the local target's components are not in it.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY harness/ harness/
COPY fixtures/ fixtures/
COPY scenarios/ scenarios/
COPY clusters/ clusters/
RUN pip wheel --no-deps --no-cache-dir -w /wheels .

FROM ${PYTHON_IMAGE}
COPY --from=build /wheels /wheels
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir /wheels/*.whl -c /tmp/requirements.lock \
    && rm -rf /wheels /tmp/requirements.lock \
    && useradd --uid 1000 --create-home harness \
    && mkdir -p /reports && chown 1000 /reports
USER 1000
WORKDIR /home/harness
# Reports go to the volume the Job mounts (clusters/incluster/job.yaml).
ENV EG_HARNESS_REPORTS=/reports
ENTRYPOINT ["eg-harness"]
CMD ["suites"]

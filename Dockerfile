# First stage builds the wheels; the second installs them for an unprivileged user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 bureau && mkdir -p /var/lib/bureau && chown bureau /var/lib/bureau
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER bureau
WORKDIR /home/bureau
EXPOSE 8000
CMD ["gunicorn", "-c", "python:bureau.gunicorn_conf", "bureau:create_app()"]

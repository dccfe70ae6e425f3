# First stage installs Bureau and its dependencies into a virtualenv; the second copies only
# that virtualenv (no wheels, no sources, no pip cache in any layer) for an unprivileged user.
FROM python:3.11-slim AS build
RUN python -m venv /opt/bureau
WORKDIR /src
COPY . .
RUN /opt/bureau/bin/pip install --no-cache-dir .

FROM python:3.11-slim
# Pango for WeasyPrint (contracts and invoices as PDF) and a font that covers Chinese names.
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
      fonts-noto-core fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 bureau && mkdir -p /var/lib/bureau && chown bureau /var/lib/bureau
COPY --from=build /opt/bureau /opt/bureau
ENV PATH=/opt/bureau/bin:$PATH PYTHONUNBUFFERED=1
USER bureau
WORKDIR /home/bureau
EXPOSE 8000
CMD ["gunicorn", "-c", "python:bureau.gunicorn_conf", "bureau:create_app()"]

# One image for every PicaDaily process; docker-compose.yml picks the component per service.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY picadaily picadaily
COPY frontend frontend
COPY functions functions
COPY services services
COPY workflow workflow
COPY infra infra
COPY cli cli
COPY docs docs
# the versions the tests passed with (constraints.txt, written by make upgrade)
RUN pip install --no-cache-dir -c constraints.txt .
ENV PICADAILY_HOST=0.0.0.0 PICADAILY_HOME=/data
VOLUME /data
ENTRYPOINT ["picadaily"]

# One image for the API and the projection workers; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain domain
COPY application application
COPY projections projections
COPY interfaces interfaces
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["oms", "serve", "--host", "0.0.0.0", "--port", "8000"]

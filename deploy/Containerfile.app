# App image (Python 3.11): the app server (`python -m server`), the action server
# (`python -m actions.serve`), the channel workers and the migration job
# (`python -m knowledge init-db`). Build from the repository root:
#   docker build -f deploy/Containerfile.app -t citizenbot-app .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LOG_FORMAT=json \
    APP_HOST=0.0.0.0 \
    SANIC_HOST=0.0.0.0

WORKDIR /srv/citizenbot
COPY requirements/app.txt requirements/app.txt
RUN pip install --no-deps -r requirements/app.txt \
    && useradd --system --uid 10001 --home-dir /srv/citizenbot citizenbot

# Whole packages only (README "Layout"): the app server, the action server and the workers
# share one image; bot/ (Rasa only) is not needed here.
COPY --chown=citizenbot:citizenbot common/ common/
COPY --chown=citizenbot:citizenbot knowledge/ knowledge/
COPY --chown=citizenbot:citizenbot casework/ casework/
COPY --chown=citizenbot:citizenbot console/ console/
COPY --chown=citizenbot:citizenbot actions/ actions/
COPY --chown=citizenbot:citizenbot channels/ channels/
COPY --chown=citizenbot:citizenbot server/ server/
COPY --chown=citizenbot:citizenbot nlu_data/jieba_dict/ nlu_data/jieba_dict/

USER citizenbot
EXPOSE 8000 5055
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["python", "-m", "server"]

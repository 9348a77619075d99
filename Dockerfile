# keyrotor image: one image for every service (api, control worker, HSM workers, provisioning job).
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# The workflow bundle is made once here, so control workers start without webpack; the dashboard the API serves at /ui/
# and the precompiled keyrotor command (esbuild is a development dependency) too.
RUN node bin/keyrotor.js bundle-workflows /app/workflow-bundle.js && node scripts/build-dashboard.js --force && node scripts/build-cli.js --force && npm prune --omit=dev

FROM node:20-bookworm-slim
# A named volume takes its owner from the image's folder it is mounted on: each SoftHSM node's token folder and PIN folder
# exist here, owned by the unprivileged user, so that the node's volumes are writable by it (one folder per node id).
ARG SOFTHSM_NODES="hsm-1 hsm-2 hsm-3"
RUN apt-get update && apt-get install -y --no-install-recommends softhsm2 opensc ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/keyrotor --create-home keyrotor \
 && for node in $SOFTHSM_NODES; do mkdir -p "/var/lib/softhsm/$node" "/var/lib/keyrotor/pins/$node"; done \
 && mkdir -p /var/lib/keyrotor/secrets /var/lib/keyrotor/so-pins \
 && chown -R keyrotor /var/lib/softhsm /var/lib/keyrotor \
 && chmod 0700 /var/lib/softhsm/* /var/lib/keyrotor/pins/* /var/lib/keyrotor/secrets /var/lib/keyrotor/so-pins
WORKDIR /app
COPY --from=build /app /app
ENV NODE_ENV=production \
    KEYROTOR_WORKFLOW_BUNDLE=/app/workflow-bundle.js \
    KEYROTOR_DATA_DIR=/var/lib/keyrotor \
    KEYROTOR_API_HOST=0.0.0.0
USER keyrotor
ENTRYPOINT ["node", "bin/keyrotor.js"]
CMD ["--help"]

# Everyday commands. Tools from PyPI (SAM CLI, cfn-lint, cargo-lambda, zig) are installed on
# first use into ~/.cache/vertexcloud/tools-venv (scripts/lib/common.sh).
SHELL := /bin/bash
TOOLS := source scripts/lib/common.sh && use_tools &&
EVENT ?= events/auth/health.json
FUNCTION ?= $(word 2,$(subst /, ,$(EVENT)))
# What the functions run with under `make watch` (Cargo.toml's [workspace.metadata.lambda.env],
# the emulators), for the commands that act on the same table and bucket.
LAMBDA_ENV = $(shell python3 -c 'import tomllib; env = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["metadata"]["lambda"]["env"]; print(" ".join(f"{k}={v}" for k, v in env.items()))')

.PHONY: run test emulators watch invoke superuser token build build-x86 validate deploy deploy-prod deploy-web bench compare

run:            ## the whole API on 127.0.0.1:8000, embedded backend
	cargo run

test:           ## the whole suite on every backend (starts its own emulators)
	scripts/test.sh

emulators:      ## DynamoDB Local on :8001 and LocalStack S3 on :4566 with table and bucket (Ctrl-C stops)
	scripts/emulators.sh

watch:          ## the five functions behind their real paths on 127.0.0.1:9000 (needs `make emulators`)
	$(TOOLS) cargo lambda watch -A 127.0.0.1 -P 9000

invoke:         ## invoke a function with an event: make invoke EVENT=events/files/list.json [TOKEN=$TOKEN] [SHARE=<share id>]
	@$(TOOLS) data=$(EVENT) && \
	if grep -q '{{TOKEN}}' $(EVENT); then \
	  [ -n "$(TOKEN)" ] || { echo "$(EVENT) acts as a user: add TOKEN=... (make token)" >&2; exit 2; }; \
	  data="$$VC_TMP/event.json" && sed 's|{{TOKEN}}|$(TOKEN)|g' $(EVENT) > "$$data"; \
	fi && \
	if grep -q '{{SHARE}}' $(EVENT); then \
	  [ -n "$(SHARE)" ] || { echo "$(EVENT) visits a share link: add SHARE=<its id>" >&2; exit 2; }; \
	  sed 's|{{SHARE}}|$(SHARE)|g' "$$data" > "$$VC_TMP/share-event.json" && data="$$VC_TMP/share-event.json"; \
	fi && \
	cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port 9000 $(FUNCTION) --data-file "$$data"

superuser:      ## a superuser on the emulators: make superuser USERNAME=admin EMAIL=admin@example.com
	@env $(LAMBDA_ENV) cargo run -q -- create-superuser --username '$(USERNAME)' --email '$(EMAIL)'

token:          ## an access token for a user on the emulators: TOKEN=$(make token USERNAME=admin)
	@env $(LAMBDA_ENV) cargo run -q -- issue-token --username '$(USERNAME)' $(if $(TTL),--ttl $(TTL))

build:          ## the five Lambda bootstraps for arm64 (target/lambda/<fn>/bootstrap)
	$(TOOLS) use_arm64_target && cargo lambda build --release --arm64 -p auth -p users -p files -p zip -p shares

build-x86:      ## the same for x86_64
	$(TOOLS) cargo lambda build --release -p auth -p users -p files -p zip -p shares

validate:       ## lint the SAM template
	$(TOOLS) sam validate --lint && cfn-lint infra/template.yaml

deploy:         ## build with SAM and deploy the dev stack (samconfig.toml)
	$(TOOLS) use_arm64_target && sam build && sam deploy

deploy-prod:
	$(TOOLS) use_arm64_target && sam build --config-env prod && sam deploy --config-env prod

deploy-web:     ## publish web/app to a deployed stack's CloudFront: make deploy-web [STACK=vertexcloud-prod] [DRY_RUN=1]
	scripts/deploy-web.sh $(if $(DRY_RUN),--dry-run) $(STACK)

# Cold starts need bootstraps this machine can run: x86_64 ones here, the arm64 ones elsewhere.
BOOTSTRAPS := $(if $(filter aarch64 arm64,$(shell uname -m)),build,build-x86)

compare:        ## issue 14's table: each measure beside its peer (nginx, rclone, cp) in one run
	benches/compare.sh

bench:          ## every benchmark, figures only: the comparison, auth, files, zip (release builds), cold starts
	benches/compare.sh
	benches/auth.sh
	benches/files.sh
	benches/zip.sh
	$(MAKE) $(BOOTSTRAPS)
	benches/cold_start.sh

# Everyday commands. Tools from PyPI (SAM CLI, cfn-lint, cargo-lambda, zig) are installed on
# first use into ~/.cache/vertexcloud/tools-venv (scripts/lib/common.sh).
SHELL := /bin/bash
TOOLS := source scripts/lib/common.sh && use_tools &&
EVENT ?= events/auth/health.json
FUNCTION ?= $(word 2,$(subst /, ,$(EVENT)))

.PHONY: run test emulators watch invoke build build-x86 validate deploy deploy-prod bench

run:            ## the whole API on 127.0.0.1:8000, embedded backend
	cargo run

test:           ## the whole suite on every backend (starts its own emulators)
	scripts/test.sh

emulators:      ## DynamoDB Local on :8001 and LocalStack S3 on :4566 with table and bucket (Ctrl-C stops)
	scripts/emulators.sh

watch:          ## the four functions behind their real paths on 127.0.0.1:9000 (needs `make emulators`)
	$(TOOLS) cargo lambda watch -A 127.0.0.1 -P 9000

invoke:         ## invoke a function with an event: make invoke EVENT=events/auth/login.json
	$(TOOLS) cargo lambda invoke --invoke-address 127.0.0.1 --invoke-port 9000 $(FUNCTION) --data-file $(EVENT)

build:          ## the four Lambda bootstraps for arm64 (target/lambda/<fn>/bootstrap)
	$(TOOLS) cargo lambda build --release --arm64 -p auth -p users -p files -p zip

build-x86:      ## the same for x86_64
	$(TOOLS) cargo lambda build --release -p auth -p users -p files -p zip

validate:       ## lint the SAM template
	$(TOOLS) sam validate --lint && cfn-lint infra/template.yaml

deploy:         ## build with SAM and deploy the dev stack (samconfig.toml)
	$(TOOLS) sam build && sam deploy

deploy-prod:
	$(TOOLS) sam build --config-env prod && sam deploy --config-env prod

bench:
	benches/auth.sh

#!/bin/bash
# LocalStack (Docker) runs this once it is ready: provision template.yaml's resources from the
# derived localstack/stack.yaml, verify the SES sender, create the JWT secret if missing.
set -euo pipefail

stack=user-signup
email_from="${EMAIL_FROM:-welcome@example.com}"
jwt_param="${JWT_SECRET_PARAM:-/user-signup/jwt-secret}"

awslocal cloudformation deploy --stack-name "$stack" --template-file /etc/localstack/stack.yaml \
  --parameter-overrides "SenderEmail=${email_from}" "JwtSecretParameterName=${jwt_param}" \
  --no-fail-on-empty-changeset
awslocal ses verify-email-identity --email-address "$email_from"
if ! awslocal ssm get-parameter --name "$jwt_param" >/dev/null 2>&1; then
  secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  awslocal ssm put-parameter --name "$jwt_param" --type SecureString --value "$secret" >/dev/null
fi
awslocal cloudformation describe-stacks --stack-name "$stack" --query 'Stacks[0].Outputs' --output table

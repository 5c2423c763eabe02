"""AWS MSK IAM authentication, as the Java `aws-msk-iam-auth` library is configured, through
librdkafka's OAUTHBEARER with a token callback that signs with AWS's Python signer.

Java: `sasl.mechanism=AWS_MSK_IAM` + `IAMLoginModule` + `IAMClientCallbackHandler`, or
`sasl.mechanism=OAUTHBEARER` + `OAuthBearerLoginModule` + `IAMOAuthBearerLoginCallbackHandler`.
MSK accepts an OAUTHBEARER token made of a presigned `kafka-cluster:Connect` request, which
`aws-msk-iam-sasl-signer-python` makes (the optional extra `pgbridge[msk]`). The module's options
`awsProfileName`, `awsRoleArn` and `awsRoleSessionName` choose the credentials as in Java;
without them boto's default chain (environment, profile, instance role) is used. The region
comes from the brokers' host names (`...kafka.<region>.amazonaws.com`), as Java derives it, or
else from AWS_REGION / AWS_DEFAULT_REGION.

The translated settings carry the choice under `pgbridge.msk.*` names, which only
`bridge.kafka.clients` reads: it turns them into the `oauth_cb` of every client. librdkafka calls
it at start and again at 80 % of the token's lifetime (15 minutes); a failed refresh keeps the
current token, so librdkafka asks again sooner, until the token has expired; each failure is
counted (`bridge.kafka.auth_failures`: the metric and the health check).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import time
from typing import Callable

from bridge.errors import ConfigError, ConnectionFailed
from bridge.kafka import auth_failures

log = logging.getLogger(__name__)

PREFIX = "pgbridge.msk."
LOGIN_MODULE = "software.amazon.msk.auth.iam.IAMLoginModule"
HANDLERS = frozenset({
    "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
    "software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler",
})
EXTRA = "pip install 'pgbridge[msk]'"
_OPTIONS = {"awsProfileName": "profile", "awsRoleArn": "role.arn", "awsRoleSessionName": "role.session.name"}
_REFUSED_OPTIONS = {
    "awsStsRegion": "the signer asks STS through boto's own endpoint settings (AWS_STS_REGIONAL_ENDPOINTS, AWS_REGION)",
    "awsMaxRetries": "librdkafka retries a failed token refresh itself",
    "awsMaxBackOffTimeMs": "librdkafka retries a failed token refresh itself",
    "awsRoleAccessKeyId": "give the role's credentials in the environment or a profile",
    "awsRoleSecretAccessKey": "give the role's credentials in the environment or a profile",
    "awsRoleSessionToken": "give the role's credentials in the environment or a profile",
    "awsRoleExternalId": "the signer cannot pass an external id when it assumes a role",
}
_HOST_REGION = re.compile(r"\.kafka(?:-serverless)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?(?::\d+)?$")
_REFRESH_MARGIN_S = 5  # a token closer than this to its expiry is not handed out again


def is_msk(mechanism: str, module: str | None, handlers: tuple[str, ...]) -> bool:
    return mechanism == "AWS_MSK_IAM" or module == LOGIN_MODULE or any(h in HANDLERS for h in handlers)


def translate_msk(out: dict[str, str], options: dict[str, str], label: Callable[[str], str],
                  environ: dict[str, str] | os._Environ = os.environ) -> None:
    """`out` with the MSK IAM settings replaced by librdkafka's OAUTHBEARER and the
    `pgbridge.msk.*` choice of credentials and region."""
    if importlib.util.find_spec("aws_msk_iam_sasl_signer") is None:
        raise ConfigError(f"{label('sasl.mechanism')}: AWS MSK IAM needs the pgbridge[msk] extra: {EXTRA}")
    for option, why in _REFUSED_OPTIONS.items():
        if option in options:
            raise ConfigError(f"{label('sasl.jaas.config')} option {option} is refused: {why}")
    unknown = set(options) - set(_OPTIONS) - {"awsDebugCreds"}
    if unknown:
        raise ConfigError(f"{label('sasl.jaas.config')} has options the MSK IAM login does not know: "
                          f"{', '.join(sorted(unknown))}")
    out["sasl.mechanism"] = "OAUTHBEARER"
    out[PREFIX + "region"] = _region(out.get("bootstrap.servers", ""), environ, label)
    for option, name in _OPTIONS.items():
        if options.get(option):
            out[PREFIX + name] = options[option]
    if PREFIX + "role.session.name" in out and PREFIX + "role.arn" not in out:
        raise ConfigError(f"{label('sasl.jaas.config')} gives awsRoleSessionName without awsRoleArn")


def _region(servers: str, environ, label: Callable[[str], str]) -> str:
    regions = {m.group(1) for host in servers.split(",") if (m := _HOST_REGION.search(host.strip()))}
    if len(regions) > 1:
        raise ConfigError(f"{label('bootstrap.servers')} names brokers in regions {', '.join(sorted(regions))}: "
                          "an MSK cluster is in one")
    if regions:
        return regions.pop()
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigError(f"AWS MSK IAM needs the cluster's region: {label('bootstrap.servers')} does not name it "
                          "(…kafka.<region>.amazonaws.com), so set AWS_REGION")
    return region


def token_callback(settings: dict[str, str]) -> Callable[[str], tuple[str, float]] | None:
    """The `oauth_cb` the `pgbridge.msk.*` settings ask for (removed from `settings`), or None."""
    chosen = {key[len(PREFIX):]: settings.pop(key) for key in list(settings) if key.startswith(PREFIX)}
    return MskToken(**{k.replace(".", "_"): v for k, v in chosen.items()}) if chosen else None


class MskToken:
    """librdkafka's `oauth_cb`: a signed MSK token and its expiry in epoch seconds (the signer
    gives milliseconds)."""

    def __init__(self, region: str, profile: str | None = None, role_arn: str | None = None,
                 role_session_name: str | None = None, signer=None) -> None:
        if signer is None:
            from aws_msk_iam_sasl_signer import MSKAuthTokenProvider as signer
        self.region = region
        if role_arn:
            session = {"sts_session_name": role_session_name} if role_session_name else {}
            self._sign = lambda: signer.generate_auth_token_from_role_arn(region, role_arn, **session)
        elif profile:
            self._sign = lambda: signer.generate_auth_token_from_profile(region, profile)
        else:
            self._sign = lambda: signer.generate_auth_token(region)
        self._current: tuple[str, float] | None = None
        self.failure: str | None = None  # why the last signing failed, for the error at start

    def __call__(self, _oauthbearer_config: str) -> tuple[str, float]:
        try:
            token, expiry_ms = self._sign()
        except Exception as exc:  # noqa: BLE001 - any credential or signing failure: keep the token or say why
            cause = f"{type(exc).__name__}: {exc}"
            auth_failures.record()
            if self._current is not None and self._current[1] - time.time() > _REFRESH_MARGIN_S:
                log.warning("AWS MSK IAM token refresh failed (%s); the current token is valid for %.0f s more "
                            "and the refresh is retried", cause, self._current[1] - time.time())
                return self._current
            self.failure = f"cannot sign an AWS MSK IAM token (region {self.region}): {cause}"
            # Raised from poll(): the client stops with exit 3 (from a constructor: see clients).
            raise ConnectionFailed(self.failure) from None
        self.failure = None
        self._current = (token, expiry_ms / 1000)
        return self._current

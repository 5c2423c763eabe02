"""OAUTHBEARER (OIDC client credentials, unsecured test tokens) and AWS MSK IAM as a Java client
configures them, in librdkafka's terms; the MSK token callback against AWS's signer with fixed
dummy credentials (no AWS is reachable: the signer presigns locally)."""

from __future__ import annotations

import base64
import importlib.util
import time
from urllib.parse import parse_qs, urlparse

import pytest

from bridge.config import config_from_properties
from bridge.errors import ConfigError, ConnectionFailed
from bridge.kafka import clients, msk
from bridge.kafka.java_security import translate_java_security
from tests.unit.builders import MINIMAL

OAUTH = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
OIDC = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler"
IAM_MODULE = "software.amazon.msk.auth.iam.IAMLoginModule"
IAM_HANDLER = "software.amazon.msk.auth.iam.IAMClientCallbackHandler"
P = "debezium.sink.kafka.producer."
MSK_BROKERS = "b-1.demo.abc123.c2.kafka.eu-west-1.amazonaws.com:9098,b-2.demo.abc123.c2.kafka.eu-west-1.amazonaws.com:9098"


def translate(**settings: str) -> dict[str, str]:
    return translate_java_security({k.replace("_", "."): v for k, v in settings.items()}, lambda name: P + name)


def test_the_oidc_client_credentials_flow_becomes_librdkafkas():
    out = translate(security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER",
                    sasl_jaas_config=f'{OAUTH} required clientId="bridge" clientSecret="s3cr3t" scope="kafka" '
                                     'extension_logicalCluster="lkc-1" extension_identityPoolId="pool-2";',
                    sasl_login_callback_handler_class=OIDC,
                    sasl_oauthbearer_token_endpoint_url="https://idp.example/oauth2/token")
    assert out == {"security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER",
                   "sasl.oauthbearer.token.endpoint.url": "https://idp.example/oauth2/token",
                   "sasl.oauthbearer.method": "oidc", "sasl.oauthbearer.client.id": "bridge",
                   "sasl.oauthbearer.client.secret": "s3cr3t", "sasl.oauthbearer.scope": "kafka",
                   "sasl.oauthbearer.extensions": "logicalCluster=lkc-1,identityPoolId=pool-2"}


def test_kafka_4_1_client_credential_keys_are_read_beside_the_jaas_line():
    out = translate(sasl_mechanism="OAUTHBEARER", sasl_jaas_config=f"{OAUTH} required;",
                    sasl_login_callback_handler_class=OIDC.replace("oauthbearer.", "oauthbearer.secured."),
                    sasl_oauthbearer_client_credentials_client_id="bridge",
                    sasl_oauthbearer_client_credentials_client_secret="s3cr3t",
                    sasl_oauthbearer_token_endpoint_url="http://127.0.0.1:1/token")
    assert (out["sasl.oauthbearer.client.id"], out["sasl.oauthbearer.client.secret"]) == ("bridge", "s3cr3t")
    assert "sasl.oauthbearer.client.credentials.client.id" not in out


def test_javas_unsecured_tokens_become_librdkafkas_unsecured_jwt():
    out = translate(sasl_mechanism="OAUTHBEARER",
                    sasl_jaas_config=f'{OAUTH} required unsecuredLoginStringClaim_sub="svc" '
                                     'unsecuredLoginListClaim_scope=",read,write" unsecuredLoginLifetimeSeconds="600" '
                                     'unsecuredLoginExtension_traceId="t1";')
    assert out == {"sasl.mechanism": "OAUTHBEARER", "enable.sasl.oauthbearer.unsecure.jwt": "true",
                   "sasl.oauthbearer.config": "principal=svc scope=read,write lifeSeconds=600 extension_traceId=t1"}
    out = translate(sasl_jaas_config=f'{OAUTH} required unsecuredLoginPrincipalClaimName="user" '
                                     'unsecuredLoginStringClaim_user="svc";')
    assert out["sasl.oauthbearer.config"] == "principalClaimName=user principal=svc"


@pytest.mark.parametrize("settings, words", [
    ({"sasl_jaas_config": f'{OAUTH} required clientId="c" clientSecret="never-shown";',
      "sasl_login_callback_handler_class": OIDC}, r"sasl\.oauthbearer\.token\.endpoint\.url is required"),
    ({"sasl_jaas_config": f'{OAUTH} required clientId="c" clientSecret="never-shown";',
      "sasl_login_callback_handler_class": OIDC, "sasl_oauthbearer_token_endpoint_url": "file:///tok"},
     r"librdkafka fetches tokens over HTTP\(S\) only"),
    ({"sasl_jaas_config": f'{OAUTH} required clientSecret="never-shown";', "sasl_login_callback_handler_class": OIDC,
      "sasl_oauthbearer_token_endpoint_url": "https://idp/t"}, r"has no clientId=\.\.\. option"),
    ({"sasl_jaas_config": f'{OAUTH} required clientId="c" clientSecret="never-shown" audience="x";',
      "sasl_login_callback_handler_class": OIDC, "sasl_oauthbearer_token_endpoint_url": "https://idp/t"},
     r"options librdkafka's OIDC flow does not take: audience"),
    ({"sasl_jaas_config": f'{OAUTH} required clientId="c" clientSecret="never-shown";',
      "sasl_login_callback_handler_class": "com.example.MyHandler"}, r"'com\.example\.MyHandler' is refused"),
    ({"sasl_jaas_config": f'{OAUTH} required;'}, r"gives no unsecuredLoginStringClaim_sub=\.\.\. option"),
    ({"sasl_jaas_config": f'{OAUTH} required unsecuredLoginStringClaim_sub="a" unsecuredLoginNumberClaim_n="1";'},
     r"options an unsecured librdkafka token cannot carry: unsecuredLoginNumberClaim_n"),
    ({"sasl_jaas_config": f'{OAUTH} required unsecuredLoginStringClaim_sub="a b";'},
     r"the value of principal cannot be handed to librdkafka"),
    ({"sasl_jaas_config": f'{OAUTH} required unsecuredLoginStringClaim_sub="a";',
      "enable_sasl_oauthbearer_unsecure_jwt": "false"}, r"both give enable\.sasl\.oauthbearer\.unsecure\.jwt"),
])
def test_oauthbearer_settings_librdkafka_cannot_honour_are_refused(settings, words):
    with pytest.raises(ConfigError, match=words) as refused:
        translate(**settings)
    assert "never-shown" not in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("java", [
    {"sasl_mechanism": "AWS_MSK_IAM", "sasl_jaas_config": f"{IAM_MODULE} required;",
     "sasl_client_callback_handler_class": IAM_HANDLER},
    {"sasl_mechanism": "OAUTHBEARER", "sasl_jaas_config": f"{OAUTH} required;",
     "sasl_login_callback_handler_class": "software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler",
     "sasl_client_callback_handler_class": "software.amazon.msk.auth.iam.IAMOAuthBearerLoginCallbackHandler"},
])
def test_msk_iam_becomes_oauthbearer_with_the_region_of_the_brokers(java):
    out = translate(bootstrap_servers=MSK_BROKERS, security_protocol="SASL_SSL", **java)
    assert out == {"bootstrap.servers": MSK_BROKERS, "security.protocol": "SASL_SSL", "sasl.mechanism": "OAUTHBEARER",
                   "pgbridge.msk.region": "eu-west-1"}


def test_msk_iam_options_choose_the_credentials_and_the_environment_the_region(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    out = translate(bootstrap_servers="10.0.0.1:9098", sasl_mechanism="AWS_MSK_IAM",
                    sasl_jaas_config=f'{IAM_MODULE} required awsRoleArn="arn:aws:iam::123456789012:role/bridge" '
                                     'awsRoleSessionName="pgbridge" awsDebugCreds=true;')
    assert {k: v for k, v in out.items() if k.startswith("pgbridge.")} == {
        "pgbridge.msk.region": "us-east-2", "pgbridge.msk.role.arn": "arn:aws:iam::123456789012:role/bridge",
        "pgbridge.msk.role.session.name": "pgbridge"}
    out = translate(bootstrap_servers=MSK_BROKERS, sasl_jaas_config=f'{IAM_MODULE} required awsProfileName="prod";')
    assert out["pgbridge.msk.profile"] == "prod"


@pytest.mark.parametrize("settings, words", [
    ({"bootstrap_servers": "10.0.0.1:9098", "sasl_mechanism": "AWS_MSK_IAM"}, r"needs the cluster's region: .* set "
                                                                              r"AWS_REGION"),
    ({"sasl_jaas_config": f'{IAM_MODULE} required awsStsRegion="us-east-1";'}, r"option awsStsRegion is refused"),
    ({"sasl_jaas_config": f'{IAM_MODULE} required awsRoleSessionName="x";'}, r"awsRoleSessionName without awsRoleArn"),
    ({"sasl_jaas_config": f'{IAM_MODULE} required awsNope="x";'}, r"options the MSK IAM login does not know: awsNope"),
])
def test_msk_iam_settings_that_cannot_be_honoured_are_refused(settings, words, monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(ConfigError, match=words):
        translate(**{"bootstrap_servers": MSK_BROKERS, **settings})


def test_msk_iam_without_the_extra_names_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "aws_msk_iam_sasl_signer" else real(name, *a))
    with pytest.raises(ConfigError, match=r"AWS MSK IAM needs the pgbridge\[msk\] extra: pip install 'pgbridge\[msk\]'"):
        translate(bootstrap_servers=MSK_BROKERS, sasl_mechanism="AWS_MSK_IAM")


@pytest.fixture
def dummy_aws(monkeypatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLEDUMMY0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "dummy/secret/never/used/for/real00000001")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_the_msk_token_is_the_signers_presigned_request_with_its_expiry_in_seconds(dummy_aws):
    token = msk.token_callback({"bootstrap.servers": MSK_BROKERS, "pgbridge.msk.region": "eu-west-1"})
    before = time.time()
    value, expiry = token("")
    url = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    assert parsed.hostname == "kafka.eu-west-1.amazonaws.com"
    assert query["Action"] == ["kafka-cluster:Connect"]
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLEDUMMY0001/")
    assert query["X-Amz-Expires"] == ["900"]
    assert "dummy/secret" not in url
    # the signer's milliseconds, as the epoch seconds librdkafka takes: 15 minutes from signing
    assert before + 880 < expiry < before + 905


def test_a_failed_refresh_keeps_the_valid_token_and_a_failed_first_token_says_why():
    class Signer:
        results: list = []

        @classmethod
        def generate_auth_token(cls, region):
            result = cls.results.pop(0)
            if isinstance(result, Exception):
                raise result
            return result

    now_ms = time.time() * 1000
    Signer.results = [("tok-1", now_ms + 900_000), RuntimeError("credentials expired"), ("tok-2", now_ms + 900_000)]
    token = msk.MskToken("eu-west-1", signer=Signer)
    first = token("")
    assert first[0] == "tok-1" and abs(first[1] - (now_ms / 1000 + 900)) < 1
    assert token("") == first  # librdkafka asks again sooner (80 % of what is left)
    assert token("")[0] == "tok-2"

    Signer.results = [RuntimeError("Unable to locate credentials")]
    fresh = msk.MskToken("eu-west-1", signer=Signer)
    with pytest.raises(ConnectionFailed, match=r"cannot sign an AWS MSK IAM token \(region eu-west-1\): "
                                               r"RuntimeError: Unable to locate credentials"):
        fresh("")
    assert fresh.failure


def test_every_client_gets_the_msk_token_callback_and_librdkafka_no_pgbridge_setting(dummy_aws, monkeypatch):
    cfg = config_from_properties({
        **MINIMAL, P + "bootstrap.servers": MSK_BROKERS, P + "security.protocol": "SASL_SSL",
        P + "sasl.mechanism": "AWS_MSK_IAM", P + "sasl.jaas.config": f"{IAM_MODULE} required;",
        P + "sasl.client.callback.handler.class": IAM_HANDLER,
    })
    assert cfg.kafka.connection.settings["pgbridge.msk.region"] == "eu-west-1"
    built: list[dict] = []
    for name in ("Producer", "Consumer", "AdminClient"):
        monkeypatch.setattr(clients, name, built.append)
    clients.producer(cfg.kafka.connection, cfg.kafka.producer)
    clients.consumer(cfg.kafka.connection, "group")
    clients.admin(cfg.kafka.connection)
    assert len(built) == 3
    for conf in built:
        assert conf["sasl.mechanism"] == "OAUTHBEARER" and isinstance(conf["oauth_cb"], msk.MskToken)
        assert not any(key.startswith("pgbridge.") for key in conf)
    assert "pgbridge.msk.region" in cfg.kafka.connection.settings  # the shared settings are not consumed

"""A local AWS KMS (moto in server mode) started on a loopback port for the whole session,
and the hands of whoever administers the keys there (KmsServer): the KMS key ring's tests.
Another one checks IAM permissions (kms_with_iam), for the policy the README gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from closeout.crypto.ring_config import KmsKeyPair
from tests.moto_server import fake_aws, start_moto, stop_moto

if TYPE_CHECKING:
    from types_boto3_kms import KMSClient

KMS_REGION = "eu-central-1"


@dataclass(frozen=True)
class KmsServer:
    """The local KMS: its address, and key creation as an administrator does it."""

    url: str
    region: str = KMS_REGION

    def client(self) -> KMSClient:
        return boto3.client("kms", endpoint_url=self.url, region_name=self.region)

    def new_key_pair(self) -> KmsKeyPair:
        """A wrapping key and an HMAC key, as one ring id needs, by their ARNs."""
        kms = self.client()
        wrap = kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")
        mac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
        return KmsKeyPair(wrap=wrap["KeyMetadata"]["Arn"], mac=mac["KeyMetadata"]["Arn"])

    def settings_values(self, keys: dict[str, KmsKeyPair], current: str) -> dict[str, Any]:
        """Settings overrides that put the master keys in this KMS."""
        return {
            "key_ring": "kms",
            "kms_keys": keys,
            "master_key_id": current,
            "kms_endpoint_url": self.url,
            "kms_region": self.region,
        }


@pytest.fixture(scope="session")
def kms_server(moto_url: str) -> KmsServer:
    """moto's KMS over HTTP (tests/moto_server.py)."""
    return KmsServer(moto_url)


@dataclass(frozen=True)
class IamKms:
    """A local KMS that checks IAM permissions, one key pair, and principals' access keys."""

    server: KmsServer
    keys: KmsKeyPair
    credentials: dict[str, tuple[str, str]]


# Principals of kms_with_iam and the KMS actions each is allowed.
PRINCIPALS = {
    "closeout": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateMac"],
    "cannot-decrypt": ["kms:Encrypt", "kms:GenerateMac"],
}


@pytest.fixture
def kms_with_iam() -> Iterator[IamKms]:
    """moto's KMS with IAM checked once it is set up. moto checks the actions of a policy,
    not its resources (every request asks for `*`), so the policies here name `*`."""
    # Set up unchecked: two keys, then per principal a user, its policy and an access key.
    setup_requests = 2 + 3 * len(PRINCIPALS)
    with pytest.MonkeyPatch.context() as environment:
        fake_aws(environment)
        process, url = start_moto(INITIAL_NO_AUTH_ACTION_COUNT=str(setup_requests))
        try:
            server = KmsServer(url)
            keys = server.new_key_pair()
            iam = boto3.client("iam", endpoint_url=url, region_name=server.region)
            credentials = {}
            for user, actions in PRINCIPALS.items():
                iam.create_user(UserName=user)
                statement = {"Effect": "Allow", "Action": actions, "Resource": "*"}
                iam.put_user_policy(
                    UserName=user,
                    PolicyName="closeout-kms",
                    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
                )
                key = iam.create_access_key(UserName=user)["AccessKey"]
                credentials[user] = (key["AccessKeyId"], key["SecretAccessKey"])
            yield IamKms(server, keys, credentials)
        finally:
            stop_moto(process)

"""Seed 000 (Organization Connect), an organization policy that refuses with its reason, and
the remote-support approval, driven end to end by the Python client that openapi-python-client generates from tenantry's checked-in openapi.json.

Every call goes through a generated function and every answer is parsed into a generated
model: an answer the document does not describe fails here (a missing required field, an
unknown enum value, a status the operation does not list), which is what an integrator's
generated client would meet.

    python story.py --tenantry target/debug/tenantry
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

import httpx

from tenantry_client import AuthenticatedClient, Client
from tenantry_client.api.default import (
    get_readyz,
    get_v1_orgs,
    get_v1_orgs_org,
    get_v1_orgs_org_links,
    get_v1_orgs_org_members,
    get_v1_orgs_org_received_share,
    get_v1_orgs_org_remote_support,
    get_v1_orgs_org_shares,
    post_v1_invitations_accept,
    post_v1_orgs,
    post_v1_orgs_org_links,
    post_v1_orgs_org_links_link_accept,
    post_v1_orgs_org_members,
    post_v1_orgs_org_remote_support,
    post_v1_orgs_org_remote_support_request_approve,
    post_v1_orgs_org_shares,
    post_v1_orgs_org_teams,
    put_v1_orgs_org_policies_hook,
    delete_v1_orgs_org_teams_team,
)
from tenantry_client.models import (
    AcceptBody,
    AcceptedAnswer,
    Direction,
    InviteBody,
    InvitedMemberView,
    LinkStatus,
    NewLink,
    NewOrg,
    NewRequest,
    NewResource,
    NewShare,
    OrgAnswer,
    OwnerDetails,
    PageOfLinkView,
    PageOfMemberView,
    PageOfOrg,
    PageOfRemoteSupport,
    PageOfShareView,
    Problem,
    Readiness,
    Received,
    RemoteSupport,
    Resource,
    ResourceKind,
    ResourceRef,
    Scope,
    ShareViewKind,
    SupportStatus,
    VersionBody,
)

OPERATOR_TOKEN = "tnt_" + "0" * 64


def answer(response, status, model):
    """The parsed answer, after checking its status and that it parsed into `model`."""
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.content[:500]!r}"
    )
    assert isinstance(response.parsed, model), (
        f"expected a {model.__name__}, got {type(response.parsed).__name__}"
    )
    return response.parsed


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, data, policies):
    port = free_port()
    env = dict(os.environ, TENANTRY_OPERATOR_TOKEN=OPERATOR_TOKEN, TENANTRY_REGIONS="eu-central,us-east")
    log = open(os.path.join(data, "server.log"), "w")
    server = subprocess.Popen(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--policies", policies],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return server, base
        except httpx.TransportError:
            pass
        if server.poll() is not None:
            sys.exit(f"the server stopped: {open(log.name).read()}")
        time.sleep(0.1)
    server.kill()
    sys.exit("the server did not answer /healthz within 30 s")


def story(base):
    anonymous = Client(base_url=base, raise_on_unexpected_status=True)
    operator = AuthenticatedClient(base_url=base, token=OPERATOR_TOKEN, raise_on_unexpected_status=True)

    def signed_in(token):
        return AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)

    def accept(invitation_token):
        accepted = answer(
            post_v1_invitations_accept.sync_detailed(client=anonymous, body=AcceptBody(token=invitation_token)),
            200,
            AcceptedAnswer,
        )
        return signed_in(accepted.api_token)

    def organization(client, name, tenant_id, account_type, approval):
        created = answer(
            post_v1_orgs.sync_detailed(
                client=client,
                body=NewOrg(
                    name=name,
                    tenant_id=tenant_id,
                    account_type=account_type,
                    managed_by="customer",
                    remote_support_requires_approval=approval,
                    country="DE",
                    currency="EUR",
                    region="eu-central",
                    owner=OwnerDetails(name=f"Owner of {name}", email=f"owner@{tenant_id}.example"),
                ),
            ),
            201,
            OrgAnswer,
        )
        # No [smtp]: the owner's token is answered to whoever created the organization.
        assert created.owner_invitation_token, "no SMTP, so the owner's token is answered"
        return created, accept(created.owner_invitation_token)

    print("the operator creates a service provider; its owner accepts")
    provider, provider_owner = organization(operator, "Fonio Telecom", "fonio", "service_provider", False)

    print("the provider creates two customers, Acme (approval required) and Globex")
    acme, acme_owner = organization(provider_owner, "Acme GmbH", "acme", "business_user", True)
    globex, globex_owner = organization(provider_owner, "Globex AG", "globex", "business_user", False)
    assert acme.service_provider_id == provider.id

    customers = answer(get_v1_orgs.sync_detailed(client=provider_owner, q="acme"), 200, PageOfOrg)
    assert [org.id for org in customers.items] == [acme.id], customers

    print("Acme's owner makes a team and invites a member")
    team = answer(
        post_v1_orgs_org_teams.sync_detailed(acme.id, client=acme_owner, body=NewResource(name="Hotline")),
        201,
        Resource,
    )
    invited = answer(
        post_v1_orgs_org_members.sync_detailed(
            acme.id,
            client=acme_owner,
            body=InviteBody(name="Mia Jones", email="mia@acme.example", role="member"),
        ),
        201,
        InvitedMemberView,
    )
    assert invited.invitation_token and not invited.invitation_mailed
    members = answer(get_v1_orgs_org_members.sync_detailed(acme.id, client=acme_owner), 200, PageOfMemberView)
    assert {m.name for m in members.items} == {"Owner of Acme GmbH", "Mia Jones"}, members

    print("Acme links to Globex by its UUID; Globex accepts")
    link = post_v1_orgs_org_links.sync_detailed(
        acme.id, client=acme_owner, body=NewLink(target_org_id=globex.id, target_region="eu-central")
    )
    assert link.status_code == 201, link.content
    incoming = answer(
        get_v1_orgs_org_links.sync_detailed(globex.id, client=globex_owner, direction=Direction.INCOMING),
        200,
        PageOfLinkView,
    )
    [pending] = incoming.items
    assert pending.status == LinkStatus.PENDING
    accepted = post_v1_orgs_org_links_link_accept.sync_detailed(globex.id, pending.id, client=globex_owner)
    assert accepted.status_code == 200, accepted.content

    print("Acme shares its team; Globex sees it among received resources")
    shared = post_v1_orgs_org_shares.sync_detailed(
        acme.id,
        client=acme_owner,
        body=NewShare(link_id=pending.id, resource=ResourceRef(kind=ResourceKind.TEAM, id=team.id)),
    )
    assert shared.status_code == 201, shared.content
    received = answer(
        get_v1_orgs_org_shares.sync_detailed(globex.id, client=globex_owner, view=ShareViewKind.RECEIVED),
        200,
        PageOfShareView,
    )
    [share] = received.items
    seen = answer(get_v1_orgs_org_received_share.sync_detailed(globex.id, share.id, client=globex_owner), 200, Received)
    assert seen.resource.kind == "team" and seen.resource.name == "Hotline", seen
    assert seen.sharing_org.id == acme.id

    print("the provider asks for remote support on Acme; Acme's owner approves")
    asked = answer(
        post_v1_orgs_org_remote_support.sync_detailed(
            acme.id,
            client=provider_owner,
            body=NewRequest(reason="ticket 4711: calls drop after 30 s", minutes=30, scope=Scope.READ),
        ),
        201,
        RemoteSupport,
    )
    assert asked.status == SupportStatus.PENDING, asked
    refused = post_v1_orgs_org_remote_support_request_approve.sync_detailed(acme.id, asked.id, client=provider_owner)
    assert refused.status_code == 403 and isinstance(refused.parsed, Problem), "the provider cannot approve itself"
    approved = answer(
        post_v1_orgs_org_remote_support_request_approve.sync_detailed(acme.id, asked.id, client=acme_owner),
        200,
        RemoteSupport,
    )
    assert approved.status == SupportStatus.GRANTED and approved.ends_at, approved
    listed = answer(get_v1_orgs_org_remote_support.sync_detailed(acme.id, client=acme_owner), 200, PageOfRemoteSupport)
    assert [r.id for r in listed.items] == [asked.id]

    print("Acme's owner binds an organization policy: teams stay; deleting one is refused with its reason")
    bound = put_v1_orgs_org_policies_hook.sync_detailed(
        acme.id,
        "authorize",
        client=acme_owner,
        body=VersionBody(
            source='fn authorize(input) { if input.action == "team.delete" '
            '{ return deny("teams stay: ask the service desk"); } abstain() }'
        ),
    )
    assert bound.status_code == 201, bound.content
    kept = delete_v1_orgs_org_teams_team.sync_detailed(acme.id, team.id, client=acme_owner)
    assert kept.status_code == 403 and isinstance(kept.parsed, Problem), kept.content
    assert "teams stay: ask the service desk" in kept.parsed.detail, kept.parsed

    print("the customer's record and the server's readiness, as typed answers")
    read = answer(get_v1_orgs_org.sync_detailed(acme.id, client=acme_owner), 200, OrgAnswer)
    assert read.pending_changes == [] and read.name == "Acme GmbH"
    ready = answer(get_readyz.sync_detailed(client=anonymous), 200, Readiness)
    assert ready.status == "ready", ready


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenantry", required=True, help="the server binary")
    parser.add_argument("--policies", default="policies")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        server, base = start(args.tenantry, data, os.path.abspath(args.policies))
        try:
            story(base)
        finally:
            server.kill()
            server.wait()
    print("the generated client drove the story: ok")


if __name__ == "__main__":
    main()

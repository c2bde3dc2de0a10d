"""Hands out connectors for the Integrated Services a Client connected (Google, Dropbox, GoTo).

Which accounts a request reaches comes from the CRM (the data map's ``integrations`` table);
endpoints come from settings (empty = the real services); secrets from the credential store
(environment or a folder), never from run config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy import select

from connectors.crm.sql_helpers import key_columns, row_key, typed_value
from connectors.services import CredentialStore, ServiceAccount, ServiceConnector
from resources.crm import CrmDatabasesResource

SERVICES = ("google", "dropbox", "gotomeeting")
GOTOMEETING_API = "https://api.getgo.com/G2M/rest"


class IntegrationsResource(ConfigurableResource):
    credentials_dir: str = Field(description="Folder of service credentials (vault paths)")
    google_url: str = Field(default="", description="Google endpoint; empty = Google itself")
    gotomeeting_url: str = Field(default=GOTOMEETING_API, description="GoToMeeting REST base")
    dropbox_ca_file: str = Field(
        default="", description="CA bundle to trust for a local Dropbox stand-in (tests, demo)"
    )
    retry_wait: float = Field(default=0.5, description="First back-off wait, in seconds")
    rate_limits_dir: str = Field(
        default="",
        description="Folder of per-account request windows that every run on this host shares "
        "(GoToMeeting's 10 requests/s is per account); empty = each connector its own",
    )

    def accounts(
        self, crm: CrmDatabasesResource, tenants: Mapping[str, Sequence[str]], kind: str
    ) -> list[ServiceAccount]:
        """The connected accounts of ``kind`` of the Clients a request reaches, per region."""
        found = []
        for connector in crm.connectors():
            spec = connector.datamap.integrations
            clients = tenants.get(connector.region, ())
            if spec is None or not clients:
                continue
            table = connector.table(spec.table)
            tmap = connector.datamap.tables[spec.table]
            keys = key_columns(table, tmap)
            tenant = table.c[spec.tenant_column]
            query = (
                select(
                    *keys,
                    tenant.label("_tenant"),
                    table.c[spec.account_column],
                    table.c[spec.credential_column],
                )
                .where(table.c[spec.kind_column] == kind)
                .where(tenant.in_([typed_value(tenant, c) for c in clients]))
                .order_by(*keys)
            )
            with connector.engine.connect() as conn:
                for mapping in conn.execute(query).mappings():
                    found.append(
                        ServiceAccount(
                            integration_id=row_key(tmap, mapping),
                            client_id=str(mapping["_tenant"]),
                            region=connector.region,
                            kind=kind,
                            account=mapping[spec.account_column],
                            credential_ref=mapping[spec.credential_column],
                            phone_country=connector.countries.for_tenant(str(mapping["_tenant"])),
                        )
                    )
        return found

    def connector(self, account: ServiceAccount, *, subject_ref: str = "") -> ServiceConnector:
        token = CredentialStore(Path(self.credentials_dir)).secret(account.credential_ref)
        if account.kind == "google":
            from connectors.google.connector import GoogleConnector

            return GoogleConnector(
                account, token, base_url=self.google_url or None, backoff=self.retry_wait
            )
        if account.kind == "dropbox":
            from connectors.dropbox.files import DropboxConnector

            return DropboxConnector(
                account, token, ca_file=self.dropbox_ca_file or None, retry_wait=self.retry_wait
            )
        if account.kind == "gotomeeting":
            from connectors.gotomeeting.connector import GoToMeetingConnector

            return GoToMeetingConnector(
                account,
                token,
                base_url=self.gotomeeting_url,
                backoff=self.retry_wait,
                subject_ref=subject_ref,
                rate_limit_dir=Path(self.rate_limits_dir) if self.rate_limits_dir else None,
            )
        raise ValueError(f"no connector for integrations of kind {account.kind!r}")

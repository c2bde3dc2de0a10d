"""GoToMeeting: meetings a person organised or attended — find, export, erase, verify.

- ``connector.GoToMeetingConnector`` — the connector (and what the API cannot erase);
- ``api.GoToClient`` — the REST client: bearer token, rate limit, bounded retries;
- ``host_rate_limit`` — one account's request window, shared by every process of the host.
"""

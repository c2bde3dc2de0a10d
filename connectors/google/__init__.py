"""Google (People, Calendar, Drive) for one connected account: find, export, erase, verify.

- ``connector.GoogleConnector`` — the connector, over the three APIs below;
- ``people``, ``calendar``, ``drive`` — one module per API: find and erase what is the person's;
- ``api.GoogleApi`` — calls through the real client library, bounded retries;
- ``match.SubjectMatcher`` — whether a value held at Google is one of the person's identities.
"""

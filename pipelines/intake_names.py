"""Names shared by the intake jobs, the sensors and the clean-up after an erasure."""

REQUEST_ID_TAG = "dsr/request_id"
# On every intake run: the keyed hash of the person its form names (the ledger's subject_hash),
# never the address itself, so an erasure finds the run whatever became of it.
SUBJECT_HASH_TAG = "dsr/subject_hash"
# A list run names many people, and a tag key holds one value: each person gets a tag of their
# own, ``dsr/subject-<hash>`` = "1". A tag key's name part is at most 63 characters (dagster's
# VALID_TAG_KEY_REGEX), so the hash is cut to 48 hex digits (192 bits: no two people share one).
SUBJECT_TAG_PREFIX = "dsr/subject-"
SUBJECT_TAG_HEX = 48
# On a list run that registered requests (it has no single request id): the purge keeps it.
REGISTERED_TAG = "dsr/registered_requests"
ACCESS_INTAKE_JOB = "register_access_request_job"
ERASURE_INTAKE_JOB = "register_erasure_request_job"
RECTIFICATION_INTAKE_JOB = "register_rectification_request_job"
OPT_OUT_INTAKE_JOB = "register_opt_out_request_job"
RESTRICTION_INTAKE_JOB = "register_restriction_request_job"
LIST_INTAKE_JOB = "register_request_list_job"
# Their run config carries the person's identity: deleted once an erasure is done.
INTAKE_JOBS = frozenset(
    {
        ACCESS_INTAKE_JOB,
        ERASURE_INTAKE_JOB,
        RECTIFICATION_INTAKE_JOB,
        OPT_OUT_INTAKE_JOB,
        RESTRICTION_INTAKE_JOB,
        LIST_INTAKE_JOB,
    }
)


def subject_tag(subject_hash: str) -> str:
    """The tag key that marks a list run as naming the person with this subject hash."""
    return SUBJECT_TAG_PREFIX + subject_hash[:SUBJECT_TAG_HEX]

"""Names shared by the intake jobs, the sensors and the clean-up after an erasure."""

REQUEST_ID_TAG = "dsr/request_id"
# On every intake run: the keyed hash of the person its form names (the ledger's subject_hash),
# never the address itself, so an erasure finds the run whatever became of it.
SUBJECT_HASH_TAG = "dsr/subject_hash"
ACCESS_INTAKE_JOB = "register_access_request_job"
ERASURE_INTAKE_JOB = "register_erasure_request_job"
RECTIFICATION_INTAKE_JOB = "register_rectification_request_job"
OPT_OUT_INTAKE_JOB = "register_opt_out_request_job"
RESTRICTION_INTAKE_JOB = "register_restriction_request_job"
# Their run config carries the person's identity: deleted once an erasure is done.
INTAKE_JOBS = frozenset(
    {
        ACCESS_INTAKE_JOB,
        ERASURE_INTAKE_JOB,
        RECTIFICATION_INTAKE_JOB,
        OPT_OUT_INTAKE_JOB,
        RESTRICTION_INTAKE_JOB,
    }
)

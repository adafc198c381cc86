-- =============================================================================
-- V0030__create_files
-- Purpose:       stored binary objects (videos, documents, SCORM packages, ...)
--                of an organization: where the bytes live, their type, size and
--                checksum. Content versions point at them. The organization's
--                plan limits their total size (max_storage_bytes, EL008).
-- Concern:       content_management.files (table, plan-limit triggers).
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Writes:        the app registers uploads and renames / soft-deletes them
--                (content.manage, manifest profile managed). Storage key, type,
--                size and checksum never change: new bytes are a new file.
-- Dedup:         one row per checksum and organization (uq_files_organization_id_sha256),
--                soft-deleted rows included: re-uploading deleted bytes means
--                undeleting the existing row (deleted_at = NULL), which the plan
--                limit checks again.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE content_management.files (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    storage_key text NOT NULL,
    mime_type text NOT NULL,
    size_bytes bigint NOT NULL,
    sha256 text NOT NULL,
    original_filename text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_files PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_files_organization_id FOREIGN KEY (organization_id)
    REFERENCES user_management.organizations (id) ON DELETE CASCADE,
    CONSTRAINT uq_files_organization_id_sha256 UNIQUE (organization_id, sha256),
    CONSTRAINT uq_files_organization_id_storage_key UNIQUE (organization_id, storage_key),
    -- An object-store key: relative, no empty segment, URL-safe characters.
    CONSTRAINT ck_files_storage_key_format
    CHECK (
        char_length(storage_key) BETWEEN 1 AND 1024
        AND storage_key ~ '^[A-Za-z0-9!_.*''()-]+(/[A-Za-z0-9!_.*''()-]+)*$'
    ),
    -- type/subtype, lower case, RFC 6838 restricted names, no parameters.
    CONSTRAINT ck_files_mime_type_format
    CHECK (
        char_length(mime_type) <= 255
        AND mime_type
        ~ '^(application|audio|font|image|model|text|video)/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$'
    ),
    CONSTRAINT ck_files_size_bytes CHECK (size_bytes > 0),
    CONSTRAINT ck_files_sha256_format CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    CONSTRAINT ck_files_original_filename_length
    CHECK (char_length(original_filename) BETWEEN 1 AND 255),
    CONSTRAINT ck_files_deleted_at CHECK (deleted_at >= created_at)
);

COMMENT ON TABLE content_management.files IS
'Stored binary objects of an organization (media, documents, SCORM packages): object-store key, MIME type, size and SHA-256. Immutable content: storage_key, mime_type, size_bytes and sha256 never change (no app privilege); new bytes are a new file. One row per checksum per organization, soft-deleted ones included (re-upload = undelete). The live files of an organization must fit the plan''s max_storage_bytes (EL008). Soft-deleted (deleted_at).';
COMMENT ON COLUMN content_management.files.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN content_management.files.id IS
'File id (UUIDv7).';
COMMENT ON COLUMN content_management.files.storage_key IS
'Key of the object in the organization''s object store (relative path of URL-safe segments, 1-1024 characters); unique per organization (uq_files_organization_id_storage_key). Never changes.';
COMMENT ON COLUMN content_management.files.mime_type IS
'MIME type type/subtype in lower case without parameters (video/mp4, application/pdf, application/zip); ck_files_mime_type_format. Never changes.';
COMMENT ON COLUMN content_management.files.size_bytes IS
'Size of the object in bytes (> 0); the live files of the organization count against the plan''s max_storage_bytes. Never changes.';
COMMENT ON COLUMN content_management.files.sha256 IS
'SHA-256 of the bytes, 64 lower-case hex characters, computed by the uploader; unique per organization (uq_files_organization_id_sha256): the same bytes are stored once. Never changes.';
COMMENT ON COLUMN content_management.files.original_filename IS
'PII: name of the file as uploaded (1-255 characters); may contain personal names. Display only.';
COMMENT ON COLUMN content_management.files.created_at IS
'When the file was registered (immutable).';
COMMENT ON COLUMN content_management.files.updated_at IS
'When the row last changed (maintained by trigger).';
COMMENT ON COLUMN content_management.files.deleted_at IS
'Soft delete: when the file was deleted; NULL = live. A deleted file no longer counts against the storage limit; the object itself is purged by the storage service.';

-- ---------------------------------------------------------------------------
-- Plan limit: total size of the live files (V0015's function, kind
-- storage_bytes with the size column). Only growth is checked: registering a
-- live file, undeleting one, or (never done by the app) enlarging one.
-- ---------------------------------------------------------------------------
CREATE TRIGGER trg_files_enforce_plan_limit_insert
AFTER INSERT ON content_management.files
FOR EACH ROW
WHEN (new.deleted_at IS NULL)
EXECUTE FUNCTION user_management.enforce_plan_limit('storage_bytes', 'size_bytes');
COMMENT ON TRIGGER trg_files_enforce_plan_limit_insert ON content_management.files IS
'A new live file must fit the plan''s max_storage_bytes together with the organization''s other live files (EL008).';

CREATE TRIGGER trg_files_enforce_plan_limit_update
AFTER UPDATE OF deleted_at, size_bytes ON content_management.files
FOR EACH ROW
WHEN (
    new.deleted_at IS NULL
    AND (old.deleted_at IS NOT NULL OR new.size_bytes > old.size_bytes)
)
EXECUTE FUNCTION user_management.enforce_plan_limit('storage_bytes', 'size_bytes');
COMMENT ON TRIGGER trg_files_enforce_plan_limit_update ON content_management.files IS
'An undeleted (or enlarged) file must fit the plan''s max_storage_bytes (EL008).';

ALTER TABLE content_management.files ENABLE ROW LEVEL SECURITY;
ALTER TABLE content_management.files FORCE ROW LEVEL SECURITY;

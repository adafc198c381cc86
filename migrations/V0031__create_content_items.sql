-- =============================================================================
-- V0031__create_content_items
-- Purpose:       the content library: content items (a video, a document, a
--                SCORM package, ...) with type-checked metadata, and their
--                immutable, numbered versions, each a stored file. Publishing a
--                new version = INSERT a version + point the item at it
--                (current_version_id); old versions never change.
-- Concern:       content_management.content_items and content_versions (they
--                reference each other), their validators and triggers.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Writes:        content.manage (manifest profile managed). version_number is
--                assigned by trigger (1..n per item, no gaps; the app cannot
--                write it); versions cannot be updated (EL002) nor deleted by
--                the app: they go with their item.
-- current_version_id: composite FK (organization_id, id, current_version_id) ->
--                content_versions (organization_id, content_item_id, id): the
--                current version is always one of the item's own. DEFERRABLE
--                INITIALLY IMMEDIATE, not INITIALLY DEFERRED: the column is
--                nullable, so item-then-version-then-pointer needs no deferral;
--                a client that wants to insert in another order runs SET
--                CONSTRAINTS content_management.fk_content_items_current_version_id
--                DEFERRED. An initially deferred FK would also report a foreign
--                row only at COMMIT, after the statement that wrote it.
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

-- ---------------------------------------------------------------------------
-- Metadata validator (CHECK of content_items.metadata)
-- ---------------------------------------------------------------------------
CREATE FUNCTION content_management.content_metadata_is_valid(p_type text, p_metadata jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT pg_catalog.jsonb_typeof(p_metadata) = 'object'
       -- scorm_package: the runtime version is required.
       AND (p_type <> 'scorm_package' OR p_metadata OPERATOR(pg_catalog.?) 'scorm_version')
       AND NOT EXISTS (
           SELECT 1
             FROM pg_catalog.jsonb_each(p_metadata) AS m (key, value)
            WHERE NOT CASE
                      -- positive integers (seconds, pixels, pages, slides)
                      WHEN (m.key = 'duration_seconds' AND p_type IN ('video', 'audio'))
                        OR (m.key IN ('width', 'height') AND p_type IN ('video', 'image', 'interactive'))
                        OR (m.key = 'page_count' AND p_type = 'document')
                        OR (m.key = 'slide_count' AND p_type = 'presentation') THEN
                          pg_catalog.jsonb_typeof(m.value) = 'number'
                          AND m.value::text ~ '^[1-9][0-9]{0,8}$'
                      -- BCP 47 language tags
                      WHEN m.key = 'language' AND p_type IN ('video', 'audio', 'document', 'presentation') THEN
                          pg_catalog.jsonb_typeof(m.value) = 'string'
                          AND coalesce(app.is_valid_locale(m.value OPERATOR(pg_catalog.#>>) '{}'::text[]), false)
                      WHEN m.key = 'caption_languages' AND p_type = 'video' THEN
                          pg_catalog.jsonb_typeof(m.value) = 'array'
                          AND pg_catalog.jsonb_array_length(m.value) <= 50
                          AND NOT EXISTS (
                              SELECT 1
                                FROM pg_catalog.jsonb_array_elements(m.value) AS l (value)
                               WHERE pg_catalog.jsonb_typeof(l.value) <> 'string'
                                  OR NOT coalesce(app.is_valid_locale(
                                         l.value OPERATOR(pg_catalog.#>>) '{}'::text[]), false))
                      WHEN m.key = 'transcript_available' AND p_type IN ('video', 'audio') THEN
                          pg_catalog.jsonb_typeof(m.value) = 'boolean'
                      WHEN m.key = 'alt_text' AND p_type = 'image' THEN
                          pg_catalog.jsonb_typeof(m.value) = 'string'
                          AND pg_catalog.char_length(m.value OPERATOR(pg_catalog.#>>) '{}'::text[])
                              BETWEEN 1 AND 1000
                      -- entry point inside a package: relative path
                      WHEN m.key = 'launch_path' AND p_type IN ('interactive', 'scorm_package') THEN
                          pg_catalog.jsonb_typeof(m.value) = 'string'
                          AND pg_catalog.char_length(m.value OPERATOR(pg_catalog.#>>) '{}'::text[])
                              BETWEEN 1 AND 1000
                          AND (m.value OPERATOR(pg_catalog.#>>) '{}'::text[]) !~ '(^/|\.\.|[[:space:]])'
                      WHEN m.key = 'scorm_version' AND p_type = 'scorm_package' THEN
                          pg_catalog.jsonb_typeof(m.value) = 'string'
                          AND (m.value OPERATOR(pg_catalog.#>>) '{}'::text[]) IN ('1.2', '2004')
                      WHEN m.key = 'mastery_score' AND p_type = 'scorm_package' THEN
                          pg_catalog.jsonb_typeof(m.value) = 'number'
                          AND m.value::text::numeric BETWEEN 0 AND 100
                      ELSE false
                  END)
$$;
COMMENT ON FUNCTION content_management.content_metadata_is_valid(text, jsonb) IS
'CHECK predicate of content_items.metadata: a JSON object whose every key is known for the item type and well-typed; unknown keys make it invalid. video: duration_seconds, width, height (positive integers), language (BCP 47), caption_languages (array of BCP 47 tags, at most 50), transcript_available (boolean). audio: duration_seconds, language, transcript_available. image: width, height, alt_text (1-1000 characters). document: page_count, language. presentation: slide_count, language. interactive: width, height, launch_path (relative path inside the package). scorm_package: scorm_version (required, "1.2" or "2004"), launch_path, mastery_score (0-100). Every other key is optional. NULL for NULL.';
REVOKE ALL ON FUNCTION content_management.content_metadata_is_valid(text, jsonb) FROM PUBLIC;
-- CHECK constraints run with the privileges of the writing role.
GRANT EXECUTE ON FUNCTION content_management.content_metadata_is_valid(text, jsonb) TO ${app_role};

-- ---------------------------------------------------------------------------
-- Which file types a content type accepts (checked when a version is added).
-- ---------------------------------------------------------------------------
CREATE FUNCTION content_management.mime_type_fits(p_type text, p_mime_type text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $$
    SELECT CASE p_type
               WHEN 'video' THEN p_mime_type LIKE 'video/%'
               WHEN 'audio' THEN p_mime_type LIKE 'audio/%'
               WHEN 'image' THEN p_mime_type LIKE 'image/%'
               WHEN 'document' THEN
                   p_mime_type LIKE 'text/%'
                   OR p_mime_type IN (
                       'application/pdf', 'application/rtf', 'application/msword', 'application/epub+zip',
                       'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
                       'application/vnd.oasis.opendocument.text',
                       'application/vnd.ms-excel',
                       'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
                       'application/vnd.oasis.opendocument.spreadsheet')
               WHEN 'presentation' THEN
                   p_mime_type IN (
                       'application/pdf', 'application/vnd.ms-powerpoint',
                       'application/vnd.openxmlformats-officedocument.presentationml.presentation',
                       'application/vnd.oasis.opendocument.presentation')
               WHEN 'interactive' THEN
                   p_mime_type IN ('application/zip', 'application/x-zip-compressed', 'text/html')
               WHEN 'scorm_package' THEN
                   p_mime_type IN ('application/zip', 'application/x-zip-compressed')
               ELSE false
           END
$$;
COMMENT ON FUNCTION content_management.mime_type_fits(text, text) IS
'True when a file of MIME type p_mime_type may be a version of a content item of type p_type: video/*, audio/*, image/* for video, audio, image; text/*, PDF, RTF, EPUB and office word-processing or spreadsheet formats for document; PDF and office presentation formats for presentation; a ZIP package (or text/html for interactive) for interactive and scorm_package. NULL for NULL.';
REVOKE ALL ON FUNCTION content_management.mime_type_fits(text, text) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- content_items
-- ---------------------------------------------------------------------------
CREATE TABLE content_management.content_items (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    type text NOT NULL,
    title text NOT NULL,
    description text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    visibility text NOT NULL DEFAULT 'organization',
    owner_user_id uuid NOT NULL DEFAULT app.current_user_id(),
    current_version_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT pk_content_items PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_content_items_owner_user_id FOREIGN KEY (organization_id, owner_user_id)
    REFERENCES user_management.users (organization_id, id),
    CONSTRAINT ck_content_items_type
    CHECK (
        type IN (
            'video', 'audio', 'image', 'document', 'presentation', 'interactive',
            'scorm_package'
        )
    ),
    CONSTRAINT ck_content_items_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT ck_content_items_description_length
    CHECK (char_length(description) BETWEEN 1 AND 5000),
    CONSTRAINT ck_content_items_metadata
    CHECK (content_management.content_metadata_is_valid(type, metadata)),
    CONSTRAINT ck_content_items_visibility
    CHECK (visibility IN ('private', 'organization', 'public')),
    CONSTRAINT ck_content_items_deleted_at CHECK (deleted_at >= created_at)
);

CREATE INDEX idx_content_items_organization_id_owner_user_id
ON content_management.content_items (organization_id, owner_user_id);
-- Supports fk_content_items_current_version_id (added below) in both directions.
CREATE INDEX idx_content_items_organization_id_current_version_id
ON content_management.content_items (organization_id, current_version_id, id)
WHERE current_version_id IS NOT NULL;

COMMENT ON TABLE content_management.content_items IS
'The content library: one row per piece of learning content (video, audio, image, document, presentation, interactive, SCORM package) with type-checked metadata. Its bytes are in numbered, immutable versions (content_versions); current_version_id names the one in use. Lessons link to a version. Soft-deleted (deleted_at).';
COMMENT ON COLUMN content_management.content_items.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN content_management.content_items.id IS
'Content item id (UUIDv7).';
COMMENT ON COLUMN content_management.content_items.type IS
'video, audio, image, document, presentation, interactive or scorm_package (ck_content_items_type). Fixed at creation (no app privilege to change it): metadata and version files are checked against it.';
COMMENT ON COLUMN content_management.content_items.title IS
'Title shown in the library (1-200 characters).';
COMMENT ON COLUMN content_management.content_items.description IS
'Optional description (1-5000 characters).';
COMMENT ON COLUMN content_management.content_items.metadata IS
'Type-specific attributes, a JSON object checked by content_management.content_metadata_is_valid(type, metadata) (ck_content_items_metadata): e.g. duration_seconds of a video, scorm_version (required) of a SCORM package. Unknown keys are rejected.';
COMMENT ON COLUMN content_management.content_items.visibility IS
'Sharing scope in the library: private (listed to its owner and content managers), organization (listed to every member), public (may also be shown outside the organization, e.g. on public course pages). A listing attribute applied by the library queries, not a row barrier: a lesson that uses a private item still plays for its learners.';
COMMENT ON COLUMN content_management.content_items.owner_user_id IS
'User responsible for the item (default: the acting user who created it); content managers may hand it over.';
COMMENT ON COLUMN content_management.content_items.current_version_id IS
'The version in use (one of this item''s own versions: fk_content_items_current_version_id); NULL until the first version exists. Publishing a new version = insert it, then set this column.';
COMMENT ON COLUMN content_management.content_items.created_at IS
'When the item was created (immutable).';
COMMENT ON COLUMN content_management.content_items.updated_at IS
'When the row last changed (maintained by trigger).';
COMMENT ON COLUMN content_management.content_items.deleted_at IS
'Soft delete: when the item was deleted; NULL = live.';

-- ---------------------------------------------------------------------------
-- content_versions
-- ---------------------------------------------------------------------------
CREATE TABLE content_management.content_versions (
    organization_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT app.uuid_generate_v7(),
    content_item_id uuid NOT NULL,
    -- Small per-item counter.
    -- squawk-ignore prefer-bigint-over-int
    version_number integer NOT NULL,
    file_id uuid NOT NULL,
    notes text,
    created_by_user_id uuid DEFAULT app.current_user_id(),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_content_versions PRIMARY KEY (organization_id, id),
    CONSTRAINT fk_content_versions_content_item_id FOREIGN KEY (organization_id, content_item_id)
    REFERENCES content_management.content_items (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_content_versions_file_id FOREIGN KEY (organization_id, file_id)
    REFERENCES content_management.files (organization_id, id) ON DELETE RESTRICT,
    CONSTRAINT fk_content_versions_created_by_user_id
    FOREIGN KEY (organization_id, created_by_user_id)
    REFERENCES user_management.users (organization_id, id),
    CONSTRAINT uq_content_versions_content_item_id_version_number
    UNIQUE (organization_id, content_item_id, version_number),
    -- Target of fk_content_items_current_version_id (a version of the same item).
    CONSTRAINT uq_content_versions_content_item_id_id
    UNIQUE (organization_id, content_item_id, id),
    CONSTRAINT ck_content_versions_version_number CHECK (version_number >= 1),
    CONSTRAINT ck_content_versions_notes_length CHECK (char_length(notes) BETWEEN 1 AND 2000)
);

CREATE INDEX idx_content_versions_organization_id_file_id
ON content_management.content_versions (organization_id, file_id);
CREATE INDEX idx_content_versions_organization_id_created_by_user_id
ON content_management.content_versions (organization_id, created_by_user_id)
WHERE created_by_user_id IS NOT NULL;

COMMENT ON TABLE content_management.content_versions IS
'Immutable versions of a content item, numbered 1..n per item without gaps (assigned by trg_content_versions_number). A version is a stored file plus release notes; once inserted nothing about it changes (EL002, trg_content_versions_immutable). The app inserts versions but never updates or deletes them; they are deleted with their item. Not audited: rows never change and record who created them and when; which version is current is audited on content_items.';
COMMENT ON COLUMN content_management.content_versions.organization_id IS
'Tenant (user_management.organizations).';
COMMENT ON COLUMN content_management.content_versions.id IS
'Version id (UUIDv7); lessons link to it.';
COMMENT ON COLUMN content_management.content_versions.content_item_id IS
'The content item this is a version of.';
COMMENT ON COLUMN content_management.content_versions.version_number IS
'1 for the first version of the item, then 2, 3, ... without gaps: set by trigger from the item''s highest number (a value sent by the client is ignored); unique per item.';
COMMENT ON COLUMN content_management.content_versions.file_id IS
'The stored file holding this version''s bytes (content_management.files); its MIME type must fit the item type (content_management.mime_type_fits, 23514 otherwise). A file used by a version cannot be hard-deleted (RESTRICT).';
COMMENT ON COLUMN content_management.content_versions.notes IS
'Optional release notes of this version (1-2000 characters).';
COMMENT ON COLUMN content_management.content_versions.created_by_user_id IS
'User who added the version (default: the acting user); NULL when added without user context.';
COMMENT ON COLUMN content_management.content_versions.created_at IS
'When the version was added (immutable like every column).';

ALTER TABLE content_management.content_items
ADD CONSTRAINT fk_content_items_current_version_id
FOREIGN KEY (organization_id, id, current_version_id)
REFERENCES content_management.content_versions (organization_id, content_item_id, id)
DEFERRABLE INITIALLY IMMEDIATE;

-- ---------------------------------------------------------------------------
-- Version numbers: 1..n per item without gaps.
-- ---------------------------------------------------------------------------
CREATE FUNCTION content_management.number_content_version()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = content_management, pg_temp
AS $$
DECLARE
    v_type text;
    v_mime_type text;
BEGIN
    -- Serialise the versions of one item: the next number is read after the
    -- lock, so two concurrent inserts get n+1 and n+2. Under the owner's
    -- tenant-scoped policies a row of another organization finds nothing here
    -- and is then refused by row-level security.
    SELECT i.type INTO v_type
      FROM content_management.content_items AS i
     WHERE i.organization_id = NEW.organization_id
       AND i.id = NEW.content_item_id
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;
    SELECT coalesce(pg_catalog.max(v.version_number), 0) + 1
      INTO NEW.version_number
      FROM content_management.content_versions AS v
     WHERE v.organization_id = NEW.organization_id
       AND v.content_item_id = NEW.content_item_id;

    SELECT f.mime_type INTO v_mime_type
      FROM content_management.files AS f
     WHERE f.organization_id = NEW.organization_id
       AND f.id = NEW.file_id;
    IF FOUND AND NOT content_management.mime_type_fits(v_type, v_mime_type) THEN
        RAISE EXCEPTION 'a % file cannot be a version of a % item', v_mime_type, v_type
              USING ERRCODE = '23514',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME,
                    HINT = 'See content_management.mime_type_fits() for the file types of each content type.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION content_management.number_content_version() IS
'BEFORE INSERT trigger of content_versions (trg_content_versions_number): locks the content item (FOR NO KEY UPDATE, so concurrent inserts for one item run one after the other), sets version_number to the item''s highest number + 1 (first version: 1; a client value is ignored), and raises 23514 (constraint = trigger name) when the file''s MIME type does not fit the item type (mime_type_fits). SECURITY DEFINER: reads the item and file whatever the writer may see, within the writer''s organization.';
REVOKE ALL ON FUNCTION content_management.number_content_version() FROM PUBLIC;

CREATE TRIGGER trg_content_versions_number
BEFORE INSERT ON content_management.content_versions
FOR EACH ROW EXECUTE FUNCTION content_management.number_content_version();
COMMENT ON TRIGGER trg_content_versions_number ON content_management.content_versions IS
'Numbers versions 1..n per item (serialised per item) and checks the file type against the item type (23514).';

-- ---------------------------------------------------------------------------
-- Versions are immutable.
-- ---------------------------------------------------------------------------
CREATE FUNCTION content_management.prevent_version_change()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_column text;
BEGIN
    SELECT n.key
      INTO v_column
      FROM pg_catalog.jsonb_each(pg_catalog.to_jsonb(NEW)) AS n (key, value)
     WHERE n.value IS DISTINCT FROM (pg_catalog.to_jsonb(OLD) OPERATOR(pg_catalog.->) n.key)
     ORDER BY n.key
     LIMIT 1;
    IF v_column IS NOT NULL THEN
        RAISE EXCEPTION 'content versions are immutable: column % cannot change', v_column
              USING ERRCODE = 'EL002',
                    SCHEMA = TG_TABLE_SCHEMA,
                    TABLE = TG_TABLE_NAME,
                    COLUMN = v_column,
                    CONSTRAINT = TG_NAME,
                    HINT = 'Add a new version and point the content item at it (current_version_id).';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION content_management.prevent_version_change() IS
'BEFORE UPDATE trigger of content_versions (trg_content_versions_immutable): any change of any column raises EL002 naming the first changed column (a no-op update passes). Versions are published by INSERT only.';
REVOKE ALL ON FUNCTION content_management.prevent_version_change() FROM PUBLIC;

CREATE TRIGGER trg_content_versions_immutable
BEFORE UPDATE ON content_management.content_versions
FOR EACH ROW EXECUTE FUNCTION content_management.prevent_version_change();
COMMENT ON TRIGGER trg_content_versions_immutable ON content_management.content_versions IS
'Versions never change once created (EL002 naming the column).';

ALTER TABLE content_management.content_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE content_management.content_items FORCE ROW LEVEL SECURITY;
ALTER TABLE content_management.content_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE content_management.content_versions FORCE ROW LEVEL SECURITY;

-- perma schema v17: roles (§14). A stack's roles hold Contentstack-shaped rules (`rules`, the
-- JSON a client sent, kept as sent); `kind` marks the three built-in roles ('admin',
-- 'developer', 'content_manager'), which every stack has and none can delete; custom roles
-- are 'custom'. `member_roles` gives members their roles (several add up). Existing stacks get
-- the built-in roles, and every existing member the Admin role: what they could do before.
-- Keep in step with the other backend's 0017_roles.sql.
CREATE TABLE roles (
    uid TEXT PRIMARY KEY,
    api_key TEXT NOT NULL REFERENCES stacks(api_key) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    rules TEXT NOT NULL DEFAULT '[]',
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (api_key, name)
);
CREATE TABLE member_roles (
    api_key TEXT NOT NULL,
    user_uid TEXT NOT NULL,
    role_uid TEXT NOT NULL REFERENCES roles(uid) ON DELETE CASCADE,
    PRIMARY KEY (api_key, user_uid, role_uid),
    FOREIGN KEY (api_key, user_uid) REFERENCES stack_members(api_key, user_uid) ON DELETE CASCADE
);
CREATE INDEX member_roles_by_role ON member_roles (role_uid);
INSERT INTO roles (uid, api_key, name, description, kind, rules, created_by, updated_by, created_at, updated_at)
SELECT 'blt' || substr(md5(random()::text || clock_timestamp()::text || s.api_key || k.kind), 1, 16), s.api_key, k.name, k.description, k.kind, k.rules,
       s.owner_uid, s.owner_uid, s.created_at, s.created_at
FROM stacks s, (
    SELECT 'Admin' AS name, 'admin' AS kind,
           'Admin can perform all actions and manage all settings of the stack, except the ability to delete or transfer ownership of the stack.' AS description,
           '[{"module":"asset","assets":["$all"],"acl":{"read":true,"create":true,"update":true,"delete":true,"publish":true}},{"module":"environment","environments":["$all"],"acl":{"read":true}},{"module":"locale","locales":["$all"],"acl":{"read":true}}]' AS rules
    UNION ALL SELECT 'Developer', 'developer',
           'Developer can perform all Content Manager''s actions, view audit logs, create roles, invite users, manage languages, environments, tokens, webhooks and extensions.',
           '[{"module":"asset","assets":["$all"],"acl":{"read":true,"create":true,"update":true,"delete":true,"publish":true}},{"module":"environment","environments":["$all"],"acl":{"read":true}},{"module":"locale","locales":["$all"],"acl":{"read":true}}]'
    UNION ALL SELECT 'Content Manager', 'content_manager',
           'Content Managers can manage and publish all assets and folders. They cannot access stack settings, tokens, environments, roles or users.',
           '[{"module":"asset","assets":["$all"],"acl":{"read":true,"create":true,"update":true,"delete":true,"publish":true}},{"module":"environment","environments":["$all"],"acl":{"read":true}},{"module":"locale","locales":["$all"],"acl":{"read":true}}]'
) k;
INSERT INTO member_roles (api_key, user_uid, role_uid)
SELECT m.api_key, m.user_uid, r.uid FROM stack_members m
JOIN roles r ON r.api_key = m.api_key AND r.kind = 'admin';

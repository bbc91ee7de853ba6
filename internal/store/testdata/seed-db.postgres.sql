-- seed-db.sql on PostgreSQL: the original's schema as Sequelize 6 creates
-- it there, holding the same rows (the accounts of seed-db.md, their
-- bcryptjs hashes and roles), with the users sequence where the app left
-- it. Converted by hand from the MariaDB dump, for the drop-in tests.
CREATE TABLE IF NOT EXISTS "roles" ("id" INTEGER , "name" VARCHAR(255), "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY ("id"));
CREATE TABLE IF NOT EXISTS "users" ("id"   SERIAL , "username" VARCHAR(255), "email" VARCHAR(255), "password" VARCHAR(255), "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY ("id"));
CREATE TABLE IF NOT EXISTS "user_roles" ("createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL, "roleId" INTEGER  REFERENCES "roles" ("id") ON DELETE CASCADE ON UPDATE CASCADE, "userId" INTEGER  REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE CASCADE, PRIMARY KEY ("roleId","userId"));
INSERT INTO "roles" ("id", "name", "createdAt", "updatedAt") VALUES
(1, 'user', '2026-11-27 17:35:40+00', '2026-11-27 17:35:40+00'),
(2, 'moderator', '2026-11-27 17:35:40+00', '2026-11-27 17:35:40+00'),
(3, 'admin', '2026-11-27 17:35:40+00', '2026-11-27 17:35:40+00');
INSERT INTO "users" ("id", "username", "email", "password", "createdAt", "updatedAt") VALUES
(484, 'alice', 'alice@example.com', '$2a$08$YU4NYCL.7DM7xg8wcPwQ/.VMK4KfJaa5Afk5zVVXxvFKVGlQ4J0qS', '2026-11-27 17:53:49+00', '2026-11-27 17:53:49+00'),
(485, 'morgan', 'morgan@example.com', '$2a$08$iztrlxAiswsfwQgI41miiOkofjJfTpnoyFfmWu38qxu8B3smy.BkS', '2026-11-27 17:53:50+00', '2026-11-27 17:53:50+00'),
(486, 'root_admin', 'admin@example.com', '$2a$08$Zw8Okg/4PqP0tv1bLcT0P.9jyhAKTiPnuYOedO7V5iICagCrp/hWW', '2026-11-27 17:53:50+00', '2026-11-27 17:53:50+00'),
(487, 'Mixed.Case', 'Mixed.Case@Example.com', '$2a$08$YpUCuC/s1nBuMsKYxgm/A.vkNu.MAkAUQb.6ecZ.uvIedKytZlo7G', '2026-11-27 17:53:50+00', '2026-11-27 17:53:50+00');
INSERT INTO "user_roles" ("createdAt", "updatedAt", "roleId", "userId") VALUES
('2026-11-27 17:53:49+00', '2026-11-27 17:53:49+00', 1, 484),
('2026-11-27 17:53:50+00', '2026-11-27 17:53:50+00', 1, 485),
('2026-11-27 17:53:50+00', '2026-11-27 17:53:50+00', 1, 487),
('2026-11-27 17:53:50+00', '2026-11-27 17:53:50+00', 2, 485),
('2026-11-27 17:53:50+00', '2026-11-27 17:53:50+00', 2, 487),
('2026-11-27 17:53:50+00', '2026-11-27 17:53:50+00', 3, 486),
('2026-11-27 17:53:50+00', '2026-11-27 17:53:50+00', 3, 487);
SELECT setval('users_id_seq', 487, true);

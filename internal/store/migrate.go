package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ddl holds one engine's statements. The base tables are the original's
// schema, column for column, so that jwtauth can start on a database the
// Node.js app created and the app's data stays readable by both.
type ddl struct {
	baseTables []string
	addKeys    string
	// addNotBefore adds users.tokensNotBefore: when the user last signed
	// out everywhere, which ends their tokens that have no session.
	addNotBefore string
	// addVerifiedAt adds users.emailVerifiedAt: when the address was
	// proven (NULL: never, as for every account the original created).
	addVerifiedAt string
	// ownTables are jwtauth's additions, named and shaped after the
	// original's conventions (camelCase columns, createdAt/updatedAt):
	// sessions and their refresh tokens, the outbox of mail to send, and
	// password-reset tokens, email-verification tokens, and settings
	// jwtauth keeps for itself (when email verification became required).
	ownTables []string
}

var dialects = map[string]ddl{
	DriverMySQL: {
		baseTables: []string{
			"CREATE TABLE IF NOT EXISTS `roles` (" +
				"`id` int(11) NOT NULL, `name` varchar(255) DEFAULT NULL, " +
				"`createdAt` datetime NOT NULL, `updatedAt` datetime NOT NULL, " +
				"PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
			"CREATE TABLE IF NOT EXISTS `users` (" +
				"`id` int(11) NOT NULL AUTO_INCREMENT, `username` varchar(255) DEFAULT NULL, " +
				"`email` varchar(255) DEFAULT NULL, `password` varchar(255) DEFAULT NULL, " +
				"`createdAt` datetime NOT NULL, `updatedAt` datetime NOT NULL, " +
				"PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
			"CREATE TABLE IF NOT EXISTS `user_roles` (" +
				"`createdAt` datetime NOT NULL, `updatedAt` datetime NOT NULL, " +
				"`roleId` int(11) NOT NULL, `userId` int(11) NOT NULL, " +
				"PRIMARY KEY (`roleId`,`userId`), KEY `userId` (`userId`), " +
				"FOREIGN KEY (`roleId`) REFERENCES `roles` (`id`) ON DELETE CASCADE ON UPDATE CASCADE, " +
				"FOREIGN KEY (`userId`) REFERENCES `users` (`id`) ON DELETE CASCADE ON UPDATE CASCADE" +
				") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
		},
		// Binary collation: the key is already folded, and the column must
		// not apply a second, engine-specific notion of "equal".
		addKeys: "ALTER TABLE `users` " +
			"ADD COLUMN `usernameKey` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL, " +
			"ADD COLUMN `emailKey` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin DEFAULT NULL",
		addNotBefore:  "ALTER TABLE `users` ADD COLUMN `tokensNotBefore` datetime DEFAULT NULL",
		addVerifiedAt: "ALTER TABLE `users` ADD COLUMN `emailVerifiedAt` datetime DEFAULT NULL",
		ownTables: []string{
			"CREATE TABLE IF NOT EXISTS `userSessions` (" +
				"`id` bigint NOT NULL AUTO_INCREMENT, `userId` int(11) NOT NULL, " +
				"`expiresAt` datetime NOT NULL, `revokedAt` datetime DEFAULT NULL, " +
				"`revokedReason` varchar(32) DEFAULT NULL, " +
				"`createdAt` datetime NOT NULL, `updatedAt` datetime NOT NULL, " +
				"PRIMARY KEY (`id`), KEY `userId` (`userId`), " +
				"FOREIGN KEY (`userId`) REFERENCES `users` (`id`) ON DELETE CASCADE ON UPDATE CASCADE" +
				") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
			"CREATE TABLE IF NOT EXISTS `userSessionTokens` (" +
				"`id` bigint NOT NULL AUTO_INCREMENT, `sessionId` bigint NOT NULL, " +
				"`tokenHash` char(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, " +
				"`expiresAt` datetime NOT NULL, `usedAt` datetime DEFAULT NULL, " +
				"`createdAt` datetime NOT NULL, `updatedAt` datetime NOT NULL, " +
				"PRIMARY KEY (`id`), UNIQUE KEY `tokenHash` (`tokenHash`), KEY `sessionId` (`sessionId`), " +
				"FOREIGN KEY (`sessionId`) REFERENCES `userSessions` (`id`) ON DELETE CASCADE ON UPDATE CASCADE" +
				") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
			"CREATE TABLE IF NOT EXISTS `mailOutbox` (" +
				"`id` bigint NOT NULL AUTO_INCREMENT, `recipient` varchar(255) NOT NULL, " +
				"`subject` text NOT NULL, `textBody` mediumtext NOT NULL, `htmlBody` mediumtext DEFAULT NULL, " +
				"`messageId` varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, " +
				"`attempts` int NOT NULL DEFAULT 0, `nextAttemptAt` datetime DEFAULT NULL, " +
				"`claimedBy` varchar(64) DEFAULT NULL, `claimedUntil` datetime DEFAULT NULL, " +
				"`sentAt` datetime DEFAULT NULL, `lastError` text DEFAULT NULL, " +
				"`createdAt` datetime NOT NULL, `updatedAt` datetime NOT NULL, " +
				"PRIMARY KEY (`id`), UNIQUE KEY `messageId` (`messageId`), KEY `nextAttemptAt` (`nextAttemptAt`)" +
				") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
			"CREATE TABLE IF NOT EXISTS `passwordResetTokens` (" +
				"`id` bigint NOT NULL AUTO_INCREMENT, `userId` int(11) NOT NULL, " +
				"`tokenHash` char(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, " +
				"`expiresAt` datetime NOT NULL, `usedAt` datetime DEFAULT NULL, " +
				"`createdAt` datetime NOT NULL, `updatedAt` datetime NOT NULL, " +
				"PRIMARY KEY (`id`), UNIQUE KEY `tokenHash` (`tokenHash`), KEY `userId` (`userId`), " +
				"FOREIGN KEY (`userId`) REFERENCES `users` (`id`) ON DELETE CASCADE ON UPDATE CASCADE" +
				") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
			"CREATE TABLE IF NOT EXISTS `emailVerificationTokens` (" +
				"`id` bigint NOT NULL AUTO_INCREMENT, `userId` int(11) NOT NULL, `email` varchar(255) NOT NULL, " +
				"`tokenHash` char(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, " +
				"`expiresAt` datetime NOT NULL, `usedAt` datetime DEFAULT NULL, " +
				"`createdAt` datetime NOT NULL, `updatedAt` datetime NOT NULL, " +
				"PRIMARY KEY (`id`), UNIQUE KEY `tokenHash` (`tokenHash`), KEY `userId` (`userId`), " +
				"FOREIGN KEY (`userId`) REFERENCES `users` (`id`) ON DELETE CASCADE ON UPDATE CASCADE" +
				") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
			"CREATE TABLE IF NOT EXISTS `jwtauthSettings` (" +
				"`name` varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, `value` varchar(255) NOT NULL, " +
				"`createdAt` datetime NOT NULL, `updatedAt` datetime NOT NULL, " +
				"PRIMARY KEY (`name`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
		},
	},
	// PostgreSQL: the tables Sequelize creates there for the original,
	// quoted so that the camelCase names survive.
	DriverPostgres: {
		baseTables: []string{
			`CREATE TABLE IF NOT EXISTS "roles" (` +
				`"id" INTEGER, "name" VARCHAR(255), ` +
				`"createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL, ` +
				`PRIMARY KEY ("id"))`,
			`CREATE TABLE IF NOT EXISTS "users" (` +
				`"id" SERIAL, "username" VARCHAR(255), "email" VARCHAR(255), "password" VARCHAR(255), ` +
				`"createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL, ` +
				`PRIMARY KEY ("id"))`,
			`CREATE TABLE IF NOT EXISTS "user_roles" (` +
				`"createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL, ` +
				`"roleId" INTEGER REFERENCES "roles" ("id") ON DELETE CASCADE ON UPDATE CASCADE, ` +
				`"userId" INTEGER REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE CASCADE, ` +
				`PRIMARY KEY ("roleId", "userId"))`,
			`CREATE INDEX IF NOT EXISTS "user_roles_userId" ON "user_roles" ("userId")`,
		},
		// "C": compare the folded keys byte for byte, like utf8mb4_bin.
		addKeys: `ALTER TABLE "users" ADD COLUMN "usernameKey" VARCHAR(255) COLLATE "C", ` +
			`ADD COLUMN "emailKey" VARCHAR(255) COLLATE "C"`,
		addNotBefore:  `ALTER TABLE "users" ADD COLUMN "tokensNotBefore" TIMESTAMP WITH TIME ZONE`,
		addVerifiedAt: `ALTER TABLE "users" ADD COLUMN "emailVerifiedAt" TIMESTAMP WITH TIME ZONE`,
		ownTables: []string{
			`CREATE TABLE IF NOT EXISTS "userSessions" (` +
				`"id" BIGSERIAL PRIMARY KEY, ` +
				`"userId" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE CASCADE, ` +
				`"expiresAt" TIMESTAMP WITH TIME ZONE NOT NULL, "revokedAt" TIMESTAMP WITH TIME ZONE, ` +
				`"revokedReason" VARCHAR(32), ` +
				`"createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS "userSessions_userId" ON "userSessions" ("userId")`,
			`CREATE TABLE IF NOT EXISTS "userSessionTokens" (` +
				`"id" BIGSERIAL PRIMARY KEY, ` +
				`"sessionId" BIGINT NOT NULL REFERENCES "userSessions" ("id") ON DELETE CASCADE ON UPDATE CASCADE, ` +
				`"tokenHash" CHAR(64) COLLATE "C" NOT NULL UNIQUE, ` +
				`"expiresAt" TIMESTAMP WITH TIME ZONE NOT NULL, "usedAt" TIMESTAMP WITH TIME ZONE, ` +
				`"createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS "userSessionTokens_sessionId" ON "userSessionTokens" ("sessionId")`,
			`CREATE TABLE IF NOT EXISTS "mailOutbox" (` +
				`"id" BIGSERIAL PRIMARY KEY, "recipient" VARCHAR(255) NOT NULL, ` +
				`"subject" TEXT NOT NULL, "textBody" TEXT NOT NULL, "htmlBody" TEXT, ` +
				`"messageId" VARCHAR(64) COLLATE "C" NOT NULL UNIQUE, ` +
				`"attempts" INTEGER NOT NULL DEFAULT 0, "nextAttemptAt" TIMESTAMP WITH TIME ZONE, ` +
				`"claimedBy" VARCHAR(64), "claimedUntil" TIMESTAMP WITH TIME ZONE, ` +
				`"sentAt" TIMESTAMP WITH TIME ZONE, "lastError" TEXT, ` +
				`"createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS "mailOutbox_nextAttemptAt" ON "mailOutbox" ("nextAttemptAt")`,
			`CREATE TABLE IF NOT EXISTS "passwordResetTokens" (` +
				`"id" BIGSERIAL PRIMARY KEY, ` +
				`"userId" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE CASCADE, ` +
				`"tokenHash" CHAR(64) COLLATE "C" NOT NULL UNIQUE, ` +
				`"expiresAt" TIMESTAMP WITH TIME ZONE NOT NULL, "usedAt" TIMESTAMP WITH TIME ZONE, ` +
				`"createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS "passwordResetTokens_userId" ON "passwordResetTokens" ("userId")`,
			`CREATE TABLE IF NOT EXISTS "emailVerificationTokens" (` +
				`"id" BIGSERIAL PRIMARY KEY, ` +
				`"userId" INTEGER NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE ON UPDATE CASCADE, ` +
				`"email" VARCHAR(255) NOT NULL, "tokenHash" CHAR(64) COLLATE "C" NOT NULL UNIQUE, ` +
				`"expiresAt" TIMESTAMP WITH TIME ZONE NOT NULL, "usedAt" TIMESTAMP WITH TIME ZONE, ` +
				`"createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL)`,
			`CREATE INDEX IF NOT EXISTS "emailVerificationTokens_userId" ON "emailVerificationTokens" ("userId")`,
			`CREATE TABLE IF NOT EXISTS "jwtauthSettings" (` +
				`"name" VARCHAR(64) COLLATE "C" PRIMARY KEY, "value" VARCHAR(255) NOT NULL, ` +
				`"createdAt" TIMESTAMP WITH TIME ZONE NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL)`,
		},
	},
	DriverSQLite: {
		baseTables: []string{
			"CREATE TABLE IF NOT EXISTS roles (" +
				"id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(255), " +
				"createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL)",
			"CREATE TABLE IF NOT EXISTS users (" +
				"id INTEGER PRIMARY KEY AUTOINCREMENT, username VARCHAR(255), " +
				"email VARCHAR(255), password VARCHAR(255), " +
				"createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL)",
			"CREATE TABLE IF NOT EXISTS user_roles (" +
				"createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL, " +
				"roleId INTEGER NOT NULL REFERENCES roles (id) ON DELETE CASCADE ON UPDATE CASCADE, " +
				"userId INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE, " +
				"PRIMARY KEY (roleId, userId))",
			"CREATE INDEX IF NOT EXISTS user_roles_userId ON user_roles (userId)",
		},
		addKeys: "ALTER TABLE users ADD COLUMN usernameKey VARCHAR(255);" +
			"ALTER TABLE users ADD COLUMN emailKey VARCHAR(255)",
		addNotBefore:  "ALTER TABLE users ADD COLUMN tokensNotBefore DATETIME",
		addVerifiedAt: "ALTER TABLE users ADD COLUMN emailVerifiedAt DATETIME",
		ownTables: []string{
			"CREATE TABLE IF NOT EXISTS userSessions (" +
				"id INTEGER PRIMARY KEY AUTOINCREMENT, " +
				"userId INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE, " +
				"expiresAt DATETIME NOT NULL, revokedAt DATETIME, revokedReason VARCHAR(32), " +
				"createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL)",
			"CREATE INDEX IF NOT EXISTS userSessions_userId ON userSessions (userId)",
			"CREATE TABLE IF NOT EXISTS userSessionTokens (" +
				"id INTEGER PRIMARY KEY AUTOINCREMENT, " +
				"sessionId INTEGER NOT NULL REFERENCES userSessions (id) ON DELETE CASCADE ON UPDATE CASCADE, " +
				"tokenHash CHAR(64) NOT NULL UNIQUE, expiresAt DATETIME NOT NULL, usedAt DATETIME, " +
				"createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL)",
			"CREATE INDEX IF NOT EXISTS userSessionTokens_sessionId ON userSessionTokens (sessionId)",
			"CREATE TABLE IF NOT EXISTS mailOutbox (" +
				"id INTEGER PRIMARY KEY AUTOINCREMENT, recipient VARCHAR(255) NOT NULL, " +
				"subject TEXT NOT NULL, textBody TEXT NOT NULL, htmlBody TEXT, " +
				"messageId VARCHAR(64) NOT NULL UNIQUE, " +
				"attempts INTEGER NOT NULL DEFAULT 0, nextAttemptAt DATETIME, " +
				"claimedBy VARCHAR(64), claimedUntil DATETIME, sentAt DATETIME, lastError TEXT, " +
				"createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL)",
			"CREATE INDEX IF NOT EXISTS mailOutbox_nextAttemptAt ON mailOutbox (nextAttemptAt)",
			"CREATE TABLE IF NOT EXISTS passwordResetTokens (" +
				"id INTEGER PRIMARY KEY AUTOINCREMENT, " +
				"userId INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE, " +
				"tokenHash CHAR(64) NOT NULL UNIQUE, expiresAt DATETIME NOT NULL, usedAt DATETIME, " +
				"createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL)",
			"CREATE INDEX IF NOT EXISTS passwordResetTokens_userId ON passwordResetTokens (userId)",
			"CREATE TABLE IF NOT EXISTS emailVerificationTokens (" +
				"id INTEGER PRIMARY KEY AUTOINCREMENT, " +
				"userId INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE, " +
				"email VARCHAR(255) NOT NULL, tokenHash CHAR(64) NOT NULL UNIQUE, " +
				"expiresAt DATETIME NOT NULL, usedAt DATETIME, " +
				"createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL)",
			"CREATE INDEX IF NOT EXISTS emailVerificationTokens_userId ON emailVerificationTokens (userId)",
			"CREATE TABLE IF NOT EXISTS jwtauthSettings (" +
				"name VARCHAR(64) NOT NULL PRIMARY KEY, value VARCHAR(255) NOT NULL, " +
				"createdAt DATETIME NOT NULL, updatedAt DATETIME NOT NULL)",
		},
	},
}

// uniqueKeys are the unique indexes jwtauth adds, by column.
var uniqueKeys = []struct{ column, source, index string }{
	{"usernameKey", "username", "users_usernameKey_unique"},
	{"emailKey", "email", "users_emailKey_unique"},
}

// Migrate brings the database to jwtauth's schema and seeds the roles. Every
// step checks before it acts, so running it on every start, on a fresh
// database or on the original's, changes only what is missing. When
// existing rows would break a new unique index (two accounts whose names
// differ only in case), it fails and names them instead of guessing which
// account to keep.
//
// Instances starting together on one database migrate one at a time: under
// MySQL's named lock (GET_LOCK), on PostgreSQL inside one transaction
// holding an advisory lock, or on SQLite inside one immediate transaction.
// The others wait, then find nothing left to do. On PostgreSQL and SQLite,
// whose DDL is transactional, a migration that fails leaves no trace.
func Migrate(ctx context.Context, db *gorm.DB) error {
	db = db.WithContext(ctx)
	d, ok := dialects[db.Dialector.Name()]
	if !ok {
		return fmt.Errorf("migrate: no schema for %s", db.Dialector.Name())
	}
	switch db.Dialector.Name() {
	case DriverSQLite:
		return db.Transaction(func(tx *gorm.DB) error { return migrate(tx, d) })
	case DriverPostgres:
		return db.Transaction(func(tx *gorm.DB) error {
			// One lock per schema, so that schemas of one database used by
			// separate deployments do not wait for each other.
			wait := fmt.Sprintf("SET LOCAL lock_timeout = %d", migrationLockWait.Milliseconds())
			err := tx.Exec(wait).Error
			if err == nil {
				err = tx.Exec("SELECT pg_advisory_xact_lock(hashtext(? || current_schema()))", migrationLock).Error
			}
			if err != nil {
				return fmt.Errorf("migrate: take the migration lock: %w", translate(err))
			}
			return migrate(tx, d)
		})
	}
	// MySQL commits DDL as it goes, so a transaction cannot serialize it; a
	// named lock, held by one connection, can.
	return db.Connection(func(pinned *gorm.DB) error {
		conn := pinned.Session(&gorm.Session{NewDB: true}) // a fresh statement on the pinned connection
		var got *int
		if err := conn.Raw("SELECT GET_LOCK(?, ?)", migrationLock, migrationLockWait.Seconds()).Scan(&got).Error; err != nil {
			if errors.Is(translate(err), ErrUnavailable) {
				return fmt.Errorf("migrate: take the migration lock: %w", translate(err))
			}
			// An engine without named locks (some MySQL-compatible ones):
			// migrate unlocked; each step checks before it acts.
			return migrate(conn, d)
		}
		if got == nil || *got != 1 {
			return fmt.Errorf("migrate: another instance held the migration lock %q for %s", migrationLock, migrationLockWait)
		}
		defer conn.Exec("SELECT RELEASE_LOCK(?)", migrationLock)
		return migrate(conn, d)
	})
}

// The lock that serializes migrations, and how long to wait for it.
const (
	migrationLock     = "jwtauth.migrate"
	migrationLockWait = 60 * time.Second
)

func migrate(db *gorm.DB, d ddl) error {
	for _, stmt := range d.baseTables {
		if err := db.Exec(stmt).Error; err != nil {
			return fmt.Errorf("migrate: create tables: %w", translate(err))
		}
	}
	if !db.Migrator().HasColumn(&User{}, "usernameKey") {
		for _, stmt := range strings.Split(d.addKeys, ";") {
			if err := db.Exec(stmt).Error; err != nil {
				return fmt.Errorf("migrate: add key columns: %w", translate(err))
			}
		}
	}
	if !db.Migrator().HasColumn(&User{}, "tokensNotBefore") {
		if err := db.Exec(d.addNotBefore).Error; err != nil {
			return fmt.Errorf("migrate: add tokensNotBefore column: %w", translate(err))
		}
	}
	if !db.Migrator().HasColumn(&User{}, "emailVerifiedAt") {
		if err := db.Exec(d.addVerifiedAt).Error; err != nil {
			return fmt.Errorf("migrate: add emailVerifiedAt column: %w", translate(err))
		}
	}
	indexed := true
	for _, k := range uniqueKeys {
		indexed = indexed && db.Migrator().HasIndex(&User{}, k.index)
	}
	if err := backfillKeys(db, !indexed); err != nil {
		return err
	}
	for _, k := range uniqueKeys {
		if db.Migrator().HasIndex(&User{}, k.index) {
			continue
		}
		if err := checkDuplicates(db, k.column, k.source); err != nil {
			return err
		}
		if err := db.Exec("CREATE UNIQUE INDEX ? ON users (?)", clause.Table{Name: k.index}, col(k.column)).Error; err != nil {
			return fmt.Errorf("migrate: create index %s: %w", k.index, translate(err))
		}
	}
	for _, stmt := range d.ownTables {
		if err := db.Exec(stmt).Error; err != nil {
			return fmt.Errorf("migrate: create jwtauth's tables: %w", translate(err))
		}
	}
	return seedRoles(db)
}

// backfillKeys computes the key columns of rows written by something other
// than jwtauth: every row of the original's database on the first start.
// Until the unique indexes exist it recomputes every row, so that an
// operator who renamed a duplicate by hand after a refused start needs to
// do nothing else.
func backfillKeys(db *gorm.DB, all bool) error {
	var rows []User
	q := db.Select("id", "username", "email")
	if !all {
		q = q.Where("(? IS NULL AND username IS NOT NULL) OR (? IS NULL AND email IS NOT NULL)", col("usernameKey"), col("emailKey"))
	}
	err := q.FindInBatches(&rows, 500, func(tx *gorm.DB, _ int) error {
		for _, u := range rows {
			keys := map[string]any{"usernameKey": nullableKey(u.Username), "emailKey": nullableKey(u.Email)}
			if err := tx.Model(&User{}).Where("id = ?", u.ID).UpdateColumns(keys).Error; err != nil {
				if errors.Is(translate(err), ErrConflict) {
					return fmt.Errorf("user %d (%q, %q) collides with an existing account that differs only in case: %w",
						u.ID, u.Username, u.Email, err)
				}
				return err
			}
		}
		return nil
	}).Error
	if err != nil {
		return fmt.Errorf("migrate: fill key columns: %w", translate(err))
	}
	return nil
}

// nullableKey keeps a NULL username NULL, so it cannot collide.
func nullableKey(s string) any {
	if s == "" {
		return nil
	}
	return Key(s)
}

func checkDuplicates(db *gorm.DB, column, source string) error {
	var dups []struct {
		ID     int64
		Shown  string
		Folded string
	}
	c := col(column)
	err := db.Raw("SELECT id, ? AS shown, ? AS folded FROM users WHERE ? IN "+
		"(SELECT ? FROM users WHERE ? IS NOT NULL GROUP BY ? HAVING COUNT(*) > 1) "+
		"ORDER BY ?, id LIMIT 50", col(source), c, c, c, c, c, c).Scan(&dups).Error
	if err != nil {
		return fmt.Errorf("migrate: look for duplicate %ss: %w", source, translate(err))
	}
	if len(dups) == 0 {
		return nil
	}
	names := make([]string, len(dups))
	for i, d := range dups {
		names[i] = fmt.Sprintf("id %d %q", d.ID, d.Shown)
	}
	return fmt.Errorf("migrate: users has %ss that differ only in case, which jwtauth treats as one account; "+
		"rename or remove all but one of each group, then start again: %s", source, strings.Join(names, ", "))
}

// seedRoles inserts the three roles with the original's ids, skipping any
// already there, then checks that each name exists.
func seedRoles(db *gorm.DB) error {
	roles := append([]Role(nil), SeedRoles...)
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&roles).Error; err != nil {
		return fmt.Errorf("migrate: seed roles: %w", translate(err))
	}
	for _, want := range SeedRoles {
		var n int64
		if err := db.Model(&Role{}).Where("name = ?", want.Name).Count(&n).Error; err != nil {
			return fmt.Errorf("migrate: check roles: %w", translate(err))
		}
		if n == 0 {
			return fmt.Errorf("migrate: role %q is missing and id %d is taken by another role; "+
				"fix the roles table (ids 1 user, 2 moderator, 3 admin)", want.Name, want.ID)
		}
	}
	return nil
}

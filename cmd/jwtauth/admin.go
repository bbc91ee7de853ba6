package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"jwtauth/internal/auth"
)

// migrate applies the schema and seeds the roles, then exits: for deploys
// that migrate before starting the servers.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	help := "jwtauth migrate\n\nCreates or upgrades the schema and seeds the roles, then exits. Safe to run again.\n"
	if err := parseFlags("migrate", help, args, stdout, nil); err != nil {
		return ignoreHelp(err)
	}
	a, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	fmt.Fprintln(stdout, "migrated:", a.cfg.DBDriver)
	return nil
}

// createAdmin creates an account with the admin role. The password never
// comes from a flag (it would sit in the shell history and the process
// list): ADMIN_PASSWORD, or standard input (asked for, twice, on a terminal).
func createAdmin(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var username, email string
	help := "jwtauth create-admin --username U --email E\n\n" +
		"Creates an account holding the user and admin roles. The password is read from\n" +
		"ADMIN_PASSWORD or, when that is unset, from standard input.\n\n"
	err := parseFlags("create-admin", help, args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&username, "username", "", "the admin's username (3-64 characters)")
		fs.StringVar(&email, "email", "", "the admin's email address")
	})
	if err != nil {
		return ignoreHelp(err)
	}
	if username == "" || email == "" {
		return usageError{"create-admin", "--username and --email are required"}
	}
	password, err := passwordFor("create-admin", "ADMIN_PASSWORD", getenv, stdin, stderr, username)
	if err != nil {
		return err
	}
	svc, done, err := commandService(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	id, err := svc.CreateAdmin(ctx, username, email, password)
	switch {
	case errors.Is(err, auth.ErrUsernameTaken):
		return fmt.Errorf("create-admin: the username %q is already in use", username)
	case errors.Is(err, auth.ErrEmailTaken):
		return fmt.Errorf("create-admin: the email %q is already in use", email)
	case err != nil:
		return fmt.Errorf("create-admin: %w", err)
	}
	fmt.Fprintf(stdout, "created admin %q (id %d)\n", username, id)
	return nil
}

// resetPassword sets a user's password from the command line, ending every
// session of theirs: the way back in for an admin who forgot theirs. The
// password comes as create-admin's does: NEW_PASSWORD, or standard input.
func resetPassword(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var username string
	help := "jwtauth reset-password --username U\n\n" +
		"Sets the user's password and signs them out everywhere. The password is read from\n" +
		"NEW_PASSWORD or, when that is unset, from standard input.\n\n"
	err := parseFlags("reset-password", help, args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&username, "username", "", "the user's username (letter case does not matter)")
	})
	if err != nil {
		return ignoreHelp(err)
	}
	if username == "" {
		return usageError{"reset-password", "--username is required"}
	}
	password, err := passwordFor("reset-password", "NEW_PASSWORD", getenv, stdin, stderr, username)
	if err != nil {
		return err
	}
	svc, done, err := commandService(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer done()
	id, err := svc.ResetPasswordByName(ctx, username, password)
	if err != nil {
		return fmt.Errorf("reset-password: %w", err)
	}
	fmt.Fprintf(stdout, "password of %q (id %d) reset; every session of theirs is signed out\n", username, id)
	return nil
}

// commandService opens the database and builds the service a command
// needs. It signs no token and counts no attempt: a throwaway secret, no
// signing key file, no rate limits, no Redis, no metrics, no mail sender.
func commandService(ctx context.Context, getenv func(string) string, stderr io.Writer) (*auth.Service, func(), error) {
	a, err := openDatabase(ctx, getenv, stderr)
	if err != nil {
		return nil, nil, err
	}
	opts := a.authOptions()
	opts.Secret = throwawaySecret()
	// A command says what it did on stdout, in words; the service's
	// record of it (an INFO event) would only repeat that in log syntax.
	quiet := a.cfg
	quiet.LogLevel = max(quiet.LogLevel, slog.LevelWarn)
	opts.Logger = newLogger(quiet, stderr)
	svc, err := auth.New(a.db, opts)
	if err != nil {
		a.close()
		return nil, nil, err
	}
	return svc, func() { svc.Close(); a.close() }, nil
}

// passwordFor is the password a command sets: from variable, or read from
// stdin.
func passwordFor(command, variable string, getenv func(string) string, stdin io.Reader, stderr io.Writer, username string) (string, error) {
	if password := getenv(variable); password != "" {
		return password, nil
	}
	return readPassword(command, variable, stdin, stderr, username)
}

// readPassword reads the password for command: asked for twice without
// echo on a terminal, else the first line of stdin (variable names the
// other way to give it).
func readPassword(command, variable string, stdin io.Reader, stderr io.Writer, username string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Password for %s: ", username)
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(first) != string(second) {
			return "", errors.New(command + ": the passwords differ")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("%s: read password: %w", command, err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return "", fmt.Errorf("%s: no password: set %s or pipe it on standard input", command, variable)
	}
	return password, nil
}

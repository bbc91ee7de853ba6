// Command jwtauth is a JWT authentication and role-based authorization
// server: signup, signin, sessions, role-guarded endpoints and an admin
// API, on embedded SQLite by default or on MySQL/MariaDB or PostgreSQL,
// with Redis optional for limits shared between instances. Its subcommands
// (serve, migrate, create-admin, version) share one configuration, read
// from the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/joho/godotenv"

	"jwtauth/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "jwtauth:", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a command line jwtauth cannot make sense of (exit code 2):
// what is wrong with command's arguments ("" for no known command), and
// whose help to read.
type usageError struct{ command, msg string }

func (e usageError) Error() string {
	if e.command == "" {
		return e.msg + " (see jwtauth --help)"
	}
	return fmt.Sprintf("%s: %s (see jwtauth %s --help)", e.command, e.msg, e.command)
}

const usage = `jwtauth: JWT authentication and role-based authorization server.

Usage:
  jwtauth [serve]                                  run the server (the default)
  jwtauth migrate                                  create or upgrade the schema, seed the roles, exit
  jwtauth create-admin --username U --email E      create an admin account; the password is read
                                                   from ADMIN_PASSWORD or standard input
  jwtauth reset-password --username U              set a user's password and sign them out
                                                   everywhere; read from NEW_PASSWORD or stdin
  jwtauth version                                  print the version
  jwtauth COMMAND --help                           help on a command

Every command reads the same configuration from the environment (DB_DRIVER,
DB_DSN, ...; see configs/jwtauth.env.example), and from a file of such lines:
.env in the working directory when there is one, or the file given with
--env-file PATH (before or after the command). The environment wins.
`

// run is the whole program: main only supplies the process's environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	args, envFile, err := envFileFlag(args)
	if err != nil {
		return err
	}
	getenv, envFile, err = withEnvFile(getenv, envFile)
	if err != nil {
		return err
	}
	if err := command(ctx, args, getenv, stdin, stdout, stderr); err != nil {
		if envFile != "" && errors.Is(err, config.ErrInvalid) {
			// The bad value may be the file's, which the user did not type.
			return fmt.Errorf("%w (settings from %s included)", err, envFile)
		}
		return err
	}
	return nil
}

// command runs the command args name.
func command(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd, rest := "serve", args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		cmd, rest = rest[0], rest[1:]
	} else if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "-help" || rest[0] == "--help") {
		cmd = "help"
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout)
	case "migrate":
		return migrate(ctx, rest, getenv, stdout, stderr)
	case "create-admin":
		return createAdmin(ctx, rest, getenv, stdin, stdout, stderr)
	case "reset-password":
		return resetPassword(ctx, rest, getenv, stdin, stdout, stderr)
	case "version":
		if err := parseFlags("version", "jwtauth version\n\nPrints the version.\n", rest, stdout, nil); err != nil {
			return ignoreHelp(err)
		}
		fmt.Fprintln(stdout, "jwtauth", version())
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{"", fmt.Sprintf("unknown command %q", cmd)}
}

// parseFlags parses a command's flags. -h/--help prints help to stdout and
// returns flag.ErrHelp; a bad flag is a usageError.
func parseFlags(name, help string, args []string, stdout io.Writer, define func(*flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if define != nil {
		define(fs)
	}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, help)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return err
	}
	if err != nil {
		return usageError{name, err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{name, fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func ignoreHelp(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// defaultEnvFile is read when present and --env-file is not given.
const defaultEnvFile = ".env"

// envFileFlag takes --env-file PATH (or --env-file=PATH, one dash or two)
// out of args, wherever it is: it applies to every command alike.
func envFileFlag(args []string) (rest []string, path string, err error) {
	rest = args[:1:1]
	for i := 1; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") || name != "env-file" {
			rest = append(rest, args[i])
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return nil, "", usageError{"", "--env-file needs a file name"}
			}
			i++
			value = args[i]
		}
		path = value
	}
	return rest, path, nil
}

// withEnvFile returns getenv backed by the settings in path, or in .env
// when path is "" and .env exists, and the file it read ("" for none): a
// variable of the real environment (set and not empty) wins over the
// file's. The file is read the way
// docker --env-file and systemd read theirs, plus quotes:
// NAME=value, NAME='value' or NAME="value", # comments.
func withEnvFile(getenv func(string) string, path string) (func(string) string, string, error) {
	if path == "" {
		if _, err := os.Stat(defaultEnvFile); err != nil {
			return getenv, "", nil
		}
		path = defaultEnvFile
	}
	file, err := godotenv.Read(path)
	if err != nil {
		return nil, "", fmt.Errorf("env file: %w", err)
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return file[name]
	}, path, nil
}

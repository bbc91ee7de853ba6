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
	"slices"
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
--env-file PATH (before or after the command). The environment wins. In
the file, a value holding "$" goes in single quotes: NAME='pa$Sword'.
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

// dollarStandIn stands for "$" in a second reading of an env file, in
// which nothing can expand: a private-use character no setting holds.
const dollarStandIn = "\uE000"

// expandedSetting returns the name of a setting of the env file text
// whose value read differs from its text as written because a "$" in it
// was expanded ("pa$Sword" read as "pa"), or "". Such a value means three
// things to three readers, and a secret or a password cut short fails far
// from its cause, so it is refused rather than guessed at.
func expandedSetting(text string, read map[string]string) string {
	if !strings.Contains(text, "$") || strings.Contains(text, dollarStandIn) {
		return ""
	}
	literal, err := godotenv.Unmarshal(strings.ReplaceAll(text, "$", dollarStandIn))
	if err != nil {
		return ""
	}
	names := make([]string, 0, len(literal))
	for name := range literal {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if strings.ReplaceAll(literal[name], dollarStandIn, "$") != read[name] {
			return name
		}
	}
	return ""
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
// NAME=value, NAME='value' or NAME="value", # comments. A value whose "$"
// would be expanded is refused (see expandedSetting).
func withEnvFile(getenv func(string) string, path string) (func(string) string, string, error) {
	if path == "" {
		if _, err := os.Stat(defaultEnvFile); err != nil {
			return getenv, "", nil
		}
		path = defaultEnvFile
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("env file: %w", err)
	}
	file, err := godotenv.Unmarshal(string(raw))
	if err != nil {
		return nil, "", fmt.Errorf("env file %s: %w", path, err)
	}
	if name := expandedSetting(string(raw), file); name != "" {
		return nil, "", fmt.Errorf("env file %s: %s: a $ in its value refers to a variable, which shells expand from "+
			"their environment, this server from the file, and docker not at all; write the value in single quotes "+
			"to keep it as it is", path, name)
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return file[name]
	}, path, nil
}

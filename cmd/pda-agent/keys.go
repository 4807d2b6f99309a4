package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/keyfile"
)

// The 医保 channel key workflow: before production a channel generates
// its own SM2 key pair and reports the public key; the 反馈单 of each
// environment brings the appId, the 数字密钥 and the platform's public key.
func newKeysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Manage the 医保 (NHSA) channel keys"}
	keys.AddCommand(newKeysGenCmd(), newKeysShowCmd(), newKeysImportCmd())
	return keys
}

func newKeysGenCmd() *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "gen --out FILE",
		Short: "Generate a channel SM2 key pair; print the public key to report",
		Long: `gen writes a new SM2 private key (PEM, file mode 0600) and prints the
public key in the form the NHSA service platform asks for (Base64 of the
65-byte 04‖X‖Y point) with its fingerprint. Point nhsa.<env>.channel_key_file
at the file. It never overwrites an existing file unless --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return &exitError{code: exitUsage, err: errors.New("keys gen needs --out FILE")}
			}
			k, err := keyfile.NewSM2(out, force)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "private key written to %s (mode 0600; keep it on this device, never send it)\n", out)
			fmt.Fprintf(w, "public key to report (Base64 of 04‖X‖Y):\n%s\n", gm.PublicKeyBase64(&k.PublicKey))
			fmt.Fprintf(w, "fingerprint: %s\n", gm.Fingerprint(&k.PublicKey))
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "private key file to write")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing file")
	return cmd
}

func newKeysShowCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "show --config FILE",
		Short: "Print the configured public keys and fingerprints (never a secret)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(path, true)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "nhsa.env: %s (active)\n", c.NHSA.Env)
			for _, env := range []string{"test", "prod"} {
				p := c.NHSA.Test
				if env == "prod" {
					p = c.NHSA.Prod
				}
				mark := ""
				if env == c.NHSA.Env {
					mark = " (active)"
				}
				fmt.Fprintf(w, "\n[%s]%s\n  app_id: %s\n", env, mark, orNone(p.AppID))
				key, err := agent.ChannelKey(p)
				switch {
				case err != nil:
					fmt.Fprintf(w, "  channel key: ERROR %v\n", err)
				case key == nil:
					fmt.Fprintf(w, "  channel key: none configured\n")
				default:
					fmt.Fprintf(w, "  channel public key: %s\n  channel fingerprint: %s\n", gm.PublicKeyBase64(&key.PublicKey), gm.Fingerprint(&key.PublicKey))
				}
				if p.PlatformKey == "" {
					fmt.Fprintf(w, "  platform key: none configured\n")
				} else if pk, err := gm.ParsePublicKey(p.PlatformKey); err != nil {
					fmt.Fprintf(w, "  platform key: ERROR %v\n", err)
				} else {
					fmt.Fprintf(w, "  platform public key: %s\n  platform fingerprint: %s\n", gm.PublicKeyBase64(pk), gm.Fingerprint(pk))
				}
			}
			return nil
		},
	}
	configFlag(cmd, &path)
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "none configured"
	}
	return s
}

func newKeysImportCmd() *cobra.Command {
	var env, dir, appID, appSecretFile, channelPriv, channelPub, platformPub string
	var force bool
	cmd := &cobra.Command{
		Use:   "import --env test|prod --dir DIR --app-id ID --platform-key KEY [--app-secret-file FILE|-] [--channel-key KEY --channel-public-key KEY]",
		Short: "Check and store the values of a 反馈单 (appId, 数字密钥, keys)",
		Long: `import takes the values of a 测试环境/正式环境反馈单: the channel id (appId), the
数字密钥 (read from a file or from standard input with -, never from the
command line), the platform public key, and — if the platform issued them —
the channel key pair (else the one made by keys gen is used). It checks
every value (key formats, points on the curve, the pair matching, the data
key deriving), writes the secrets to files of mode 0600 in DIR and prints
the config lines to add.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if env != "test" && env != "prod" {
				return &exitError{code: exitUsage, err: fmt.Errorf("--env must be test or prod; got %q", env)}
			}
			if dir == "" || appID == "" || platformPub == "" {
				return &exitError{code: exitUsage, err: errors.New("keys import needs --dir, --app-id and --platform-key")}
			}
			secret, err := readSecret(cmd.InOrStdin(), appSecretFile)
			if err != nil {
				return err
			}
			if _, err := gm.DeriveDataKey(appID, secret); err != nil {
				return fmt.Errorf("app id / 数字密钥: %w", err)
			}
			pk, err := gm.ParsePublicKey(platformPub)
			if err != nil {
				return fmt.Errorf("platform key: %w", err)
			}
			var keyFile string
			if channelPriv != "" {
				k, err := gm.ParsePrivateKey(channelPriv)
				if err != nil {
					return fmt.Errorf("channel key: %w", err)
				}
				if channelPub != "" {
					pub, err := gm.ParsePublicKey(channelPub)
					if err != nil {
						return fmt.Errorf("channel public key: %w", err)
					}
					if pub.X.Cmp(k.PublicKey.X) != 0 || pub.Y.Cmp(k.PublicKey.Y) != 0 {
						return errors.New("the channel public key does not belong to the channel private key")
					}
				}
				pem, err := gm.PrivateKeyPEM(k)
				if err != nil {
					return err
				}
				keyFile = filepath.Join(dir, "nhsa-"+env+".key")
				if err := keyfile.WriteSecret(keyFile, pem, force); err != nil {
					return err
				}
			}
			envFile := filepath.Join(dir, "nhsa-"+env+".env")
			line := fmt.Sprintf("PDA_NHSA_%s_APP_SECRET=%s\n", strings.ToUpper(env), secret)
			if err := keyfile.WriteSecret(envFile, []byte(line), force); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "checked: app id, 数字密钥 (data key derives), platform key %s\n", gm.Fingerprint(pk))
			fmt.Fprintf(w, "wrote %s (mode 0600): load it as the service's EnvironmentFile\n", envFile)
			fmt.Fprintf(w, "add to the config:\nnhsa:\n  env: %s\n  %s:\n    app_id: %s\n    platform_key: %s\n", env, env, appID, gm.PublicKeyBase64(pk))
			if keyFile != "" {
				fmt.Fprintf(w, "    channel_key_file: %s\n", keyFile)
			} else {
				fmt.Fprintf(w, "    channel_key_file: <the file `pda-agent keys gen` wrote>\n")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&env, "env", "", "test or prod")
	f.StringVar(&dir, "dir", "", "directory for the key and secret files")
	f.StringVar(&appID, "app-id", "", "channel id (appId)")
	f.StringVar(&appSecretFile, "app-secret-file", "-", "file holding the 数字密钥, or - for standard input")
	f.StringVar(&channelPriv, "channel-key", "", "channel private key (Base64 or PEM), if the platform issued it")
	f.StringVar(&channelPub, "channel-public-key", "", "channel public key, checked against the private key")
	f.StringVar(&platformPub, "platform-key", "", "platform public key (平台公钥)")
	f.BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}

// readSecret reads one line from a file or, for "-", standard input.
func readSecret(stdin io.Reader, path string) (string, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return "", errors.New("the 数字密钥 is empty")
	}
	return line, nil
}

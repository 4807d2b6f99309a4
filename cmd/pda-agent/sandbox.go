package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pda-agent/pda-agent/gm"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
	"github.com/pda-agent/pda-agent/upload/webhook/sandbox"
)

// Test credentials of the standalone webhook sandbox: obviously fake.
const (
	sandboxKeyID  = "sandbox"
	sandboxSecret = "sandbox-secret-not-for-production"
)

// msfxLayouts are the --msfx-layout values (upload/msfx/sandbox Layout).
var msfxLayouts = map[string]msfxsb.Layout{
	"declared": msfxsb.LayoutDeclared, "result": msfxsb.LayoutResult, "top-level": msfxsb.LayoutTopLevel}

// nhsaAnswers are the --nhsa-answer values (upload/nhsa/sandbox Answer).
var nhsaAnswers = map[string]nhsasb.Answer{
	"infcode": nhsasb.AnswerInfcode, "retrslt": nhsasb.AnswerRetRslt, "per-row": nhsasb.AnswerPerRow}

// sandboxChoice reads a flag value from a table of names.
func sandboxChoice[T any](flag, v string, table map[string]T) (T, error) {
	if x, ok := table[strings.ToLower(strings.ReplaceAll(v, "_", "-"))]; ok {
		return x, nil
	}
	var zero T
	return zero, &exitError{code: exitUsage, err: fmt.Errorf("--%s %q: want one of %s", flag, v, strings.Join(slices.Sorted(maps.Keys(table)), ", "))}
}

func newSandboxCmd() *cobra.Command {
	var msfxAddr, hookAddr, nhsaAddr, nhsaAuth, nhsaEnvelope string
	var msfxLayout, nhsaAnswer, nhsaInput string
	var nhsaMaxInput int
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve the strict back-end sandboxes on loopback for ERP/POS trials",
		Long: `sandbox serves, until SIGINT/SIGTERM, the strict sandboxes the tests and
the demo use: the 码上放心 TOP gateway (lsyd methods: uploads, queries,
processing status, with a world of enterprises, products and upstream
bills), the 医保 FSI gateway (3503-3507 with the chosen header scheme and
envelope) and the signed webhook receiver. It prints their URLs, fake test
credentials and the environment to point an agent at them.

The gateways answer as a platform may (see the packages upload/msfx/sandbox
and upload/nhsa/sandbox):

  --msfx-layout   where 码上放心 answers put their payload: declared (the
                  public SDK's layout per method, the default), result
                  (always inside "result") or top-level (always at the top
                  level of the response). The list shape follows each
                  request's simplify parameter (the agent's msfx.simplify).
  --nhsa-answer   the 医保 answer shape: infcode (infcode alone, the
                  default), retrslt (output.result.retRslt/msgRslt) or
                  per-row (output.invinfoErrDetail[], each row on its own).
  --nhsa-input    the input node the 医保 gateway takes: any (one row
                  object or a list, the default), list, or object (one row
                  per call: set the agent's nhsa.input_shape to object).
  --nhsa-max-input  the longest input in characters (40000 by default; set
                  the agent's nhsa.<env>.max_input_chars to match).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			layout, err := sandboxChoice("msfx-layout", msfxLayout, msfxLayouts)
			if err != nil {
				return err
			}
			answer, err := sandboxChoice("nhsa-answer", nhsaAnswer, nhsaAnswers)
			if err != nil {
				return err
			}
			input, err := sandboxChoice("nhsa-input", nhsaInput, map[string]string{
				nhsasb.InputAny: nhsasb.InputAny, nhsasb.InputList: nhsasb.InputList, nhsasb.InputObject: nhsasb.InputObject})
			if err != nil {
				return err
			}
			if nhsaMaxInput < 1 {
				return &exitError{code: exitUsage, err: fmt.Errorf("--nhsa-max-input %d: want a positive number of characters", nhsaMaxInput)}
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			gw, err := msfxsb.Start(msfxAddr, msfxsb.Options{Apps: msfxsb.DefaultApps(), Logger: log, Layout: layout})
			if err != nil {
				return err
			}
			defer gw.Close()
			hook, err := sandbox.Start(hookAddr, sandbox.Options{KeyID: sandboxKeyID, Secret: sandboxSecret, Logger: log})
			if err != nil {
				return err
			}
			defer hook.Close()
			nopts := nhsasb.TestOptions(nhsaAuth, nhsaEnvelope)
			nopts.Logger, nopts.Answer, nopts.InputStyle, nopts.MaxInput = log, answer, input, nhsaMaxInput
			nh, err := nhsasb.Start(nhsaAddr, nopts)
			if err != nil {
				return err
			}
			defer nh.Close()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "码上放心 (msfx) sandbox gateway: %s (answers in the %s layout)\n", gw.URL(), layout)
			fmt.Fprintf(out, "  store %s: ref_ent_id %s, ent_id %s, app_key %s, app_secret %s (fake)\n",
				msfxsb.DefaultStoreName, msfxsb.DefaultStoreRefEntID, msfxsb.DefaultStoreEntID, msfxsb.DefaultStoreAppKey, msfxsb.DefaultStoreSecret)
			fmt.Fprintf(out, "  supplier %s: ent_id %s; upstream bills %s, %s; products %s, %s, %s, %s, GTIN %s\n",
				msfxsb.DefaultSupplierName, msfxsb.DefaultSupplierEntID, msfxsb.DefaultUpBill1, msfxsb.DefaultUpBill2,
				msfxsb.ProductAmoxicillin, msfxsb.ProductIbuprofen, msfxsb.ProductLicorice, msfxsb.ProductTramadol, msfxsb.GTINAtorvastatin)
			platform, channel := nhsasb.TestKeys()
			fmt.Fprintf(out, "医保 (nhsa) sandbox gateway: %s (gateway_auth %s, envelope %s, answers %s, input %s, input at most %d characters)\n",
				nh.URL(), nhsaAuth, nhsaEnvelope, answer, input, nhsaMaxInput)
			fmt.Fprintf(out, "  institution %s %s, 区划 %s; app_id %s, 数字密钥 %s; x-tif %s/%s; api %s/%s (all fake)\n",
				nhsasb.TestFixmedinsCode, nhsasb.TestFixmedinsName, nhsasb.TestAdmdvs, nhsasb.TestAppID, nhsasb.TestAppSecret,
				nhsasb.TestPaasID, nhsasb.TestPaasToken, nhsasb.TestAPIAccessKey, nhsasb.TestAPISecretKey)
			fmt.Fprintf(out, "  channel private key (PUBLIC test key) %s\n  platform public key %s\n",
				gm.PrivateKeyBase64(channel), gm.PublicKeyBase64(&platform.PublicKey))
			fmt.Fprintf(out, "webhook sandbox: %s (key_id %s, secret %s, fake)\n", hook.URL(), sandboxKeyID, sandboxSecret)
			fmt.Fprintf(out, "point an agent at them with:\n")
			fmt.Fprintf(out, "  PDA_MSFX_ENABLED=true PDA_MSFX_GATEWAY=%s PDA_MSFX_APP_KEY=%s PDA_MSFX_APP_SECRET=%s PDA_MSFX_REF_ENT_ID=%s PDA_MSFX_ENT_ID=%s\n",
				gw.URL(), msfxsb.DefaultStoreAppKey, msfxsb.DefaultStoreSecret, msfxsb.DefaultStoreRefEntID, msfxsb.DefaultStoreEntID)
			fmt.Fprintf(out, "  PDA_NHSA_ENABLED=true PDA_NHSA_TEST_URL=%s PDA_NHSA_GATEWAY_AUTH=%s PDA_NHSA_ENVELOPE=%s PDA_NHSA_TEST_APP_ID=%s PDA_NHSA_TEST_APP_SECRET=%s PDA_NHSA_TEST_CHANNEL_KEY=%s PDA_NHSA_TEST_PLATFORM_KEY=%s PDA_NHSA_TEST_PAAS_ID=%s PDA_NHSA_TEST_PAAS_TOKEN=%s PDA_NHSA_TEST_RECER_SYS_CODE=%s PDA_NHSA_FIXMEDINS_CODE=%s PDA_NHSA_FIXMEDINS_NAME=%s PDA_NHSA_MDTRTAREA_ADMVS=%s\n",
				nh.URL(), nhsaAuth, nhsaEnvelope, nhsasb.TestAppID, nhsasb.TestAppSecret, gm.PrivateKeyBase64(channel),
				gm.PublicKeyBase64(&platform.PublicKey), nhsasb.TestPaasID, nhsasb.TestPaasToken, nhsasb.TestRecerSysCode, nhsasb.TestFixmedinsCode,
				nhsasb.TestFixmedinsName, nhsasb.TestAdmdvs)
			// The agent's side of the province profile, where it differs
			// from the agent's defaults (input as a list, 40000 characters).
			var profile []string
			if input == nhsasb.InputObject {
				profile = append(profile, "PDA_NHSA_INPUT_SHAPE=object")
			}
			if nhsaMaxInput != nhsasb.MaxInput {
				profile = append(profile, fmt.Sprintf("PDA_NHSA_TEST_MAX_INPUT_CHARS=%d", nhsaMaxInput))
			}
			if len(profile) > 0 {
				fmt.Fprintf(out, "  %s\n", strings.Join(profile, " "))
			}
			fmt.Fprintf(out, "  PDA_WEBHOOK_ENABLED=true PDA_WEBHOOK_URL=%s PDA_WEBHOOK_KEY_ID=%s PDA_WEBHOOK_SECRET=%s\n", hook.URL(), sandboxKeyID, sandboxSecret)
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			ms, hs, ns := gw.Stats(), hook.Stats(), nh.Stats()
			fmt.Fprintf(out, "sandboxes stopping: msfx %d requests, %d uploads accepted, %d duplicates; nhsa %d requests, %d rows accepted; webhook %d requests, %d bills accepted, %d duplicates\n",
				ms.Requests, ms.Accepted, ms.Duplicates, ns.Requests, ns.AcceptedRows, hs.Requests, hs.Accepted, hs.Duplicates)
			return nil
		},
	}
	cmd.Flags().StringVar(&msfxAddr, "msfx-addr", "127.0.0.1:8781", "msfx gateway listen address (keep it on loopback)")
	cmd.Flags().StringVar(&hookAddr, "webhook-addr", "127.0.0.1:8780", "webhook listen address (keep it on loopback)")
	cmd.Flags().StringVar(&nhsaAddr, "nhsa-addr", "127.0.0.1:8782", "医保 gateway listen address (keep it on loopback)")
	cmd.Flags().StringVar(&nhsaAuth, "nhsa-auth", "x-tif", "医保 gateway header scheme: none, x-tif or api")
	cmd.Flags().StringVar(&nhsaEnvelope, "nhsa-envelope", "sm2sm4", "医保 envelope: plain or sm2sm4")
	cmd.Flags().StringVar(&msfxLayout, "msfx-layout", "declared", "码上放心 answer layout: declared, result or top-level")
	cmd.Flags().StringVar(&nhsaAnswer, "nhsa-answer", "infcode", "医保 answer shape: infcode, retrslt or per-row")
	cmd.Flags().StringVar(&nhsaInput, "nhsa-input", nhsasb.InputAny, "医保 input node taken: any, list or object (one row per call)")
	cmd.Flags().IntVar(&nhsaMaxInput, "nhsa-max-input", nhsasb.MaxInput, "医保 longest input in characters")
	return cmd
}

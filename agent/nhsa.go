package agent

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/nhsa"
)

// nhsaConfig turns the active nhsa profile into the client's config: keys
// parsed, the msgid counter and the lookup of earlier bills backed by the
// queue.
func nhsaConfig(n configs.NHSA, store *queue.Store, cat *catalogue.Catalogue) (nhsa.Config, error) {
	p := n.Active()
	prof := nhsa.Profile{URL: p.URL, AppID: p.AppID, AppSecret: p.AppSecret.Value(), UID: p.UID,
		PaasID: p.PaasID, PaasToken: p.PaasToken.Value(), APIName: p.APIName, APIVersion: p.APIVersion,
		APIAccessKey: p.APIAccessKey, APISecretKey: p.APISecretKey.Value(), RecerSysCode: p.RecerSysCode}
	key, err := ChannelKey(p)
	if err != nil {
		return nhsa.Config{}, fmt.Errorf("nhsa.%s channel key: %w", n.Env, err)
	}
	prof.ChannelKey = key
	if p.PlatformKey != "" {
		if prof.PlatformKey, err = gm.ParsePublicKey(p.PlatformKey); err != nil {
			return nhsa.Config{}, fmt.Errorf("nhsa.%s.platform_key: %w", n.Env, err)
		}
	}
	c := nhsa.Config{Name: "nhsa", Env: n.Env, Profile: prof, GatewayAuth: n.GatewayAuth, Envelope: n.Envelope,
		FixmedinsCode: n.FixmedinsCode, FixmedinsName: n.FixmedinsName, MdtrtareaAdmvs: n.MdtrtareaAdmvs,
		InsuplcAdmdvs: n.InsuplcAdmdvs, Opter: n.Opter, OpterName: n.OpterName, OpterType: n.OpterType,
		Infver: n.Infver, MsgIDSlot: n.MsgIDSlot, Catalogue: cat, PharName: n.PharName,
		PharPracCertNo: n.PharPracCertNo, PharCertType: n.PharCertType, PharCertno: n.PharCertno,
		PurchaseTraceCodes: n.PurchaseTraceCodes, HoldRetry: n.HoldRetry, Timeout: n.Timeout,
		MaxInputChars: p.MaxInputChars, InputShape: n.InputShape, Signtype: n.Signtype, ReturnPsnCertType: n.ReturnPsnCertType,
		OptionalFields: n.OptionalFields, StockChangeTypes: n.StockChangeCodes(),
		Query: nhsa.Query{Purchase: n.Query.Purchase, Sale: n.Query.Sale, Node: n.Query.Node, Field: n.Query.Field, Trace: n.Query.Trace,
			StockTake: n.Query.StockTake, StockChange: n.Query.StockChange}}
	for _, v := range n.Verdicts {
		c.Verdicts = append(c.Verdicts, nhsa.Verdict{All: v.All, Not: v.Not, Kind: v.Kind, Hint: v.Hint})
	}
	if store != nil {
		c.Sequence = func(ctx context.Context) (uint64, error) { return store.NextSequence(ctx, "nhsa.msgid") }
		c.Items = func(_ context.Context, billCode string) ([]queue.Item, bool, error) {
			b, err := store.BillByCode(billCode)
			if errors.Is(err, queue.ErrNotFound) {
				return nil, false, nil
			}
			if err != nil {
				return nil, false, err
			}
			items, err := store.Items(b.ID)
			return items, err == nil, err
		}
		// At 医保 only sales and returns of one code depend on each other
		// (a sale in force blocks another); a sale needs no purchase (3503)
		// first, and a purchase held back for catalogue data must not hold
		// up the sales of settlements.
		c.Earlier = earlierUndelivered(store, "nhsa", billtype.RetailSale, billtype.CustomerReturn)
		c.LegacyStem = func(_ context.Context, billCode string) (bool, error) {
			b, err := store.BillByCode(billCode)
			if errors.Is(err, queue.ErrNotFound) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			ds, err := store.Deliveries(b.ID)
			if err != nil {
				return false, err
			}
			for _, d := range ds {
				if d.Dest == "nhsa" && d.State == queue.DeliveryDone {
					return nhsa.LegacyProgress(d.Progress), nil
				}
			}
			return false, nil
		}
		c.RefState = func(_ context.Context, billCode string) (nhsa.RefState, error) {
			b, err := store.BillByCode(billCode)
			if errors.Is(err, queue.ErrNotFound) {
				return nhsa.RefUnknown, nil
			}
			if err != nil {
				return 0, err
			}
			ds, err := store.Deliveries(b.ID)
			if err != nil {
				return 0, err
			}
			for _, d := range ds {
				if d.Dest != "nhsa" {
					continue
				}
				switch d.State {
				case queue.DeliveryDone:
					return nhsa.RefDone, nil
				case queue.DeliveryDead:
					return nhsa.RefFailed, nil
				case queue.DeliveryDropped:
					return nhsa.RefNotSent, nil
				}
				return nhsa.RefPending, nil
			}
			if b.State == queue.BillOpen {
				return nhsa.RefPending, nil
			}
			return nhsa.RefNotSent, nil
		}
	}
	return c, nil
}

// ChannelKey loads a profile's channel private key: inline, or from its
// file (nil if neither is set).
func ChannelKey(p configs.NHSAProfile) (*gm.PrivateKey, error) {
	switch {
	case p.ChannelKey.Value() != "":
		return gm.ParsePrivateKey(p.ChannelKey.Value())
	case p.ChannelKeyFile != "":
		data, err := os.ReadFile(p.ChannelKeyFile)
		if err != nil {
			return nil, err
		}
		return gm.ParsePrivateKey(string(data))
	}
	return nil, nil
}

package app

import (
	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
	"github.com/ukeyrenew/ukeyrenew/client/session"
)

// What the program's main needs of the view-models, which are internal to
// this package.

// LangEN is English, the bundled language besides the default Chinese.
const LangEN = model.LangEN

// SetupLanguage loads the bundled translations and picks the interface
// language: Chinese unless the system asks for English.
func SetupLanguage() (model.Lang, error) { return model.SetupLanguage() }

// CurrentLang is the interface language SetupLanguage chose.
func CurrentLang() model.Lang { return model.CurrentLang() }

// NewAccount is the clerk's account at the renewal service serviceURL,
// its session kept in st (nil: in memory only); opts go to every client.
func NewAccount(serviceURL string, st *session.Store, opts ...client.Option) (*model.Account, error) {
	return model.NewAccount(serviceURL, st, opts...)
}

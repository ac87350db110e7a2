package app

import (
	"context"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/assets"
)

// tokensScreen shows the inserted tokens and their certificates. It is thin:
// everything it shows comes from a TokensVM through bindings, and it rebuilds
// the token cards on the UI goroutine when the list changes.
type tokensScreen struct {
	// OnRenew is called (on the UI goroutine) when the clerk taps 续期 on a
	// certificate: serial is the token's, cert the certificate's row. The
	// button shows only for certificates whose key pair is on the token,
	// and only when OnRenew is set: set it before the Tokens view-model runs.
	OnRenew func(serial string, cert model.CertView)
	// OnRepair is called (on the UI goroutine) when the clerk taps 修复 on
	// a token with damaged objects that token.Recover removes; without it
	// the line shows no button.
	OnRepair func(serial string)

	vm       *model.TokensVM
	ctx      context.Context
	onPIN    func(serial string)
	root     *fyne.Container
	empty    fyne.CanvasObject
	list     *fyne.Container
	scroll   *container.Scroll
	problem  *widget.Label
	refresh  *widget.Button
	pinBtns  map[string]*widget.Button // by token serial, for tests
	renewBtn map[string]*widget.Button // by token serial + "/" + certificate serial, for tests
	repair   map[string]*widget.Button // by token serial, for tests
	rendered []model.TokenView
}

// newTokensScreen builds the screen. onPIN is called (on the UI goroutine)
// when the clerk asks to check the PIN of the token with that serial.
func newTokensScreen(ctx context.Context, vm *model.TokensVM, onPIN func(serial string)) *tokensScreen {
	s := &tokensScreen{vm: vm, ctx: ctx, onPIN: onPIN, pinBtns: map[string]*widget.Button{},
		renewBtn: map[string]*widget.Button{}, repair: map[string]*widget.Button{}}
	s.makeUI()
	return s
}

// Object is the screen's root.
func (s *tokensScreen) Object() fyne.CanvasObject { return s.root }

func (s *tokensScreen) makeUI() {
	title := widget.NewLabelWithStyle(lang.X("tokens.title", "UKey 与证书"), fyne.TextAlignLeading, fyne.TextStyle{})
	title.SizeName = theme.SizeNameHeadingText
	status := widget.NewLabelWithData(s.vm.Status)
	status.Importance = widget.LowImportance
	s.refresh = widget.NewButtonWithIcon(lang.X("tokens.refresh", "刷新"), theme.ViewRefreshIcon(), func() {
		s.refresh.Disable()
		go func() {
			_ = s.vm.Reload(s.ctx)
			fyne.Do(s.refresh.Enable)
		}()
	})
	s.problem = widget.NewLabelWithData(s.vm.Problem)
	s.problem.Importance = widget.DangerImportance
	s.problem.Wrapping = fyne.TextWrapWord
	s.problem.Hide()
	header := container.NewBorder(nil, nil, nil, container.NewCenter(s.refresh), container.NewVBox(title, status))
	top := container.NewVBox(header, s.problem, widget.NewSeparator())

	s.empty = s.makeEmpty()
	s.list = container.NewVBox()
	s.scroll = container.NewVScroll(s.list)
	s.scroll.Hide()
	s.root = container.NewBorder(top, nil, nil, nil,
		container.NewStack(s.empty, s.scroll))
	s.vm.Problem.AddListener(binding.NewDataListener(func() {
		if p, _ := s.vm.Problem.Get(); p == "" {
			s.problem.Hide()
		} else {
			s.problem.Show()
		}
		s.root.Refresh() // the header grew or shrank
	}))
	s.vm.Tokens.AddListener(binding.NewDataListener(s.tokensChanged))
}

func (s *tokensScreen) makeEmpty() fyne.CanvasObject {
	icon := canvas.NewImageFromResource(assets.Icon())
	icon.FillMode = canvas.ImageFillContain
	icon.SetMinSize(fyne.NewSize(96, 96))
	head := widget.NewLabelWithStyle(lang.X("tokens.insert", "请插入您的 UKey"), fyne.TextAlignCenter, fyne.TextStyle{})
	head.SizeName = theme.SizeNameHeadingText
	hint := widget.NewLabelWithStyle(lang.X("tokens.insert_hint", "插入后证书会自动显示在这里，无需刷新。"),
		fyne.TextAlignCenter, fyne.TextStyle{})
	hint2 := widget.NewLabelWithStyle(lang.X("tokens.insert_hint_many", "可以同时插入多个 UKey。"),
		fyne.TextAlignCenter, fyne.TextStyle{})
	hint2.Importance = widget.LowImportance
	searching := widget.NewProgressBarInfinite()
	s.vm.Searching.AddListener(binding.NewDataListener(func() {
		if v, _ := s.vm.Searching.Get(); v {
			searching.Show()
			searching.Start()
		} else {
			searching.Stop()
			searching.Hide()
		}
	}))
	return container.NewCenter(container.NewVBox(icon, head, hint, hint2, container.NewPadded(searching)))
}

// tokensChanged runs on the UI goroutine (binding listeners do).
func (s *tokensScreen) tokensChanged() {
	views, _ := s.vm.Tokens.Get()
	s.rendered = views
	if len(views) == 0 {
		s.scroll.Hide()
		s.empty.Show()
	} else {
		s.empty.Hide()
		s.scroll.Show()
	}
	s.pinBtns = map[string]*widget.Button{}
	s.renewBtn = map[string]*widget.Button{}
	s.repair = map[string]*widget.Button{}
	objs := make([]fyne.CanvasObject, 0, len(views))
	for _, v := range views {
		objs = append(objs, s.tokenCard(v))
	}
	s.list.Objects = objs
	s.list.Refresh()
}

func (s *tokensScreen) tokenCard(v model.TokenView) fyne.CanvasObject {
	title := widget.NewLabelWithStyle(v.Title, fyne.TextAlignLeading, fyne.TextStyle{})
	title.SizeName = theme.SizeNameSubHeadingText
	title.Importance = widget.HighImportance
	var titleRow fyne.CanvasObject = title
	if v.LabelProblem {
		title.Importance = widget.WarningImportance
		titleRow = container.NewHBox(title, container.NewCenter(newBadge(v.LabelNote, model.LevelWarning)))
	}
	sub := lang.X("token.serial", "UKey 序列号 {{.Serial}}", map[string]any{"Serial": v.Serial})
	if v.Device != "" {
		sub += " · " + v.Device
	}
	subtitle := widget.NewLabel(sub)
	subtitle.Importance = widget.LowImportance
	serial := v.Serial
	pin := widget.NewButtonWithIcon(lang.X("token.check_pin", "验证口令"), theme.AccountIcon(), func() {
		if s.onPIN != nil {
			s.onPIN(serial)
		}
	})
	s.pinBtns[v.Serial] = pin
	head := container.NewBorder(nil, nil, nil, container.NewVBox(pin), container.NewVBox(titleRow, subtitle))

	body := container.NewVBox(head)
	if v.PINNote != "" {
		body.Add(container.NewHBox(newBadge(v.PINNote, v.PINLevel)))
	}
	if v.CertsProblem != "" {
		p := widget.NewLabel(v.CertsProblem)
		p.Wrapping = fyne.TextWrapWord
		if len(v.Certs) == 0 && v.CertsProblem != "" {
			p.Importance = widget.WarningImportance
		}
		body.Add(p)
	}
	for _, c := range v.Certs {
		body.Add(widget.NewSeparator())
		body.Add(s.certBlock(v.Serial, c))
	}
	if v.Damaged != "" {
		body.Add(widget.NewSeparator())
		body.Add(s.damagedRow(v))
	}
	bg := canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))
	bg.CornerRadius = theme.InputRadiusSize()
	bg.StrokeColor = theme.Color(theme.ColorNameSeparator)
	bg.StrokeWidth = 1
	return container.NewPadded(container.NewStack(bg, container.NewPadded(body)))
}

// damagedRow is the one line about objects that cannot be read, with the
// repair button when repairing removes them.
func (s *tokensScreen) damagedRow(v model.TokenView) fyne.CanvasObject {
	line := widget.NewLabel(v.Damaged)
	line.Wrapping = fyne.TextWrapWord
	line.Importance = widget.WarningImportance
	icon := widget.NewIcon(theme.WarningIcon())
	var right fyne.CanvasObject
	if v.Repairable && s.OnRepair != nil {
		serial := v.Serial
		b := widget.NewButtonWithIcon(lang.X("token.repair", "修复"), theme.MediaReplayIcon(), func() {
			s.OnRepair(serial)
		})
		s.repair[serial] = b
		right = container.NewCenter(b)
	}
	return container.NewBorder(nil, nil, container.NewCenter(icon), right, line)
}

func (s *tokensScreen) certBlock(serial string, c model.CertView) fyne.CanvasObject {
	holder := widget.NewLabelWithStyle(c.Holder, fyne.TextAlignLeading, fyne.TextStyle{})
	holder.Truncation = fyne.TextTruncateEllipsis
	holder.SizeName = theme.SizeNameSubHeadingText
	if c.Problem != "" {
		p := widget.NewLabel(c.Problem)
		p.Wrapping = fyne.TextWrapWord
		p.Importance = widget.DangerImportance
		return container.NewVBox(holder, p)
	}
	trailing := container.NewHBox(container.NewCenter(newBadge(c.Badge, c.Level)))
	if c.CanRenew && s.OnRenew != nil {
		b := widget.NewButtonWithIcon(lang.X("cert.renew", "续期"), theme.DocumentCreateIcon(), func() {
			s.OnRenew(serial, c)
		})
		b.Importance = widget.HighImportance
		s.renewBtn[serial+"/"+c.Serial] = b
		trailing.Add(b)
	}
	top := container.NewBorder(nil, nil, nil, trailing, holder)
	field := func(name, value string) []fyne.CanvasObject {
		k := widget.NewLabel(name)
		k.Importance = widget.LowImportance
		val := widget.NewLabel(value)
		val.Truncation = fyne.TextTruncateEllipsis // a long issuer DN must not widen the window
		val.Selectable = true
		return []fyne.CanvasObject{k, val}
	}
	form := func(cells ...[]fyne.CanvasObject) fyne.CanvasObject {
		var all []fyne.CanvasObject
		for _, c := range cells {
			all = append(all, c...)
		}
		return container.New(layout.NewFormLayout(), all...)
	}
	left := form(field(lang.X("cert.valid_to", "有效期至"), c.ValidTo), field(lang.X("cert.key_type", "密钥类型"), c.KeyType))
	right := form(field(lang.X("cert.issuer", "颁发者"), c.Issuer), field(lang.X("cert.serial", "证书序列号"), c.Serial))
	return container.NewVBox(top, container.NewGridWithColumns(2, left, right))
}

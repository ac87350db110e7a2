package app

import (
	"context"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/data/binding"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/lang"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/ukeyrenew/ukeyrenew/app/internal/model"
	"github.com/ukeyrenew/ukeyrenew/client"
)

// The first run: with no renewal service configured, the window opens as
// usual (the Tokens screen needs no service) and the first-run dialog asks
// for the service's address over it. Saved, the journey starts at once;
// put off ("稍后设置"), nothing is written, and each journey tab offers the
// dialog again. A configuration that is there but wrong (a bad config file)
// is said on the journey tabs instead: only an administrator can fix it.

// NewFirstRun is the first-run dialog's view-model for Deps.FirstRun: it
// checks the address the clerk types and saves it to userFile (the user's
// config file); opts go to the account's clients (the language).
func NewFirstRun(userFile string, opts ...client.Option) *model.FirstRunVM {
	return model.NewFirstRunVM(userFile, opts...)
}

// firstRunDialog asks for the renewal service's address (and the CA's
// certificate, when the CA runs its own HTTPS certificates), checks it and
// saves it.
type firstRunDialog struct {
	vm      *model.FirstRunVM
	ctx     context.Context
	dlg     *dialog.CustomDialog
	URL     *widget.Entry
	CA      *widget.Entry
	Choose  *widget.Button
	Check   *widget.Button
	Save    *widget.Button
	Later   *widget.Button
	msg     *widget.Label
	body    *fyne.Container
	win     fyne.Window
	onSaved func(*model.Account)
	running sync.WaitGroup // the checks and saves under way
}

// firstRunWidth is the dialog's width: an address and a Windows path fit.
const firstRunWidth = 560

// newFirstRunDialog builds the dialog for vm over win; onSaved runs on the
// UI goroutine with the saved service's account, after the dialog closed.
func newFirstRunDialog(ctx context.Context, vm *model.FirstRunVM, win fyne.Window, onSaved func(*model.Account)) *firstRunDialog {
	d := &firstRunDialog{vm: vm, ctx: ctx, win: win, onSaved: onSaved}
	d.makeUI()
	return d
}

func (d *firstRunDialog) makeUI() {
	intro := widget.NewLabel(lang.X("firstrun.intro", "首次使用，请填写证书颁发机构（CA）提供的续期服务地址。设置只保存在本机当前用户下，以后启动不再询问。"))
	intro.Wrapping = fyne.TextWrapWord
	d.URL = boundEntry(d.vm.URL)
	d.URL.SetPlaceHolder("https://renew.example-ca.cn")
	d.URL.OnChanged = func(string) { d.vm.Edited() }
	d.URL.OnSubmitted = func(string) { d.check() }
	d.CA = boundEntry(d.vm.CAFile)
	d.CA.SetPlaceHolder(lang.X("firstrun.ca_placeholder", "证书文件路径（.pem、.crt或.cer）"))
	d.CA.OnChanged = func(string) { d.vm.Edited() }
	d.Choose = widget.NewButtonWithIcon(lang.X("firstrun.choose", "选择…"), theme.FolderOpenIcon(), d.chooseCA)
	caHint := widget.NewLabel(lang.X("firstrun.ca_hint", "只有CA使用自建的HTTPS证书时才需要选择；程序会在本机保存一份副本。"))
	caHint.Wrapping = fyne.TextWrapWord
	caHint.Importance = widget.LowImportance
	form := widget.NewForm(
		widget.NewFormItem(lang.X("firstrun.url_label", "续期服务地址"), d.URL),
		widget.NewFormItem(lang.X("firstrun.ca_label", "CA根证书（可选）"), container.NewBorder(nil, nil, nil, d.Choose, d.CA)),
	)
	d.msg = widget.NewLabel("")
	d.msg.Wrapping = fyne.TextWrapWord
	d.Later = widget.NewButtonWithIcon(lang.X("firstrun.later", "稍后设置"), theme.CancelIcon(), d.later)
	d.Check = widget.NewButtonWithIcon(lang.X("firstrun.check", "检查连接"), theme.SearchIcon(), d.check)
	d.Save = widget.NewButtonWithIcon(lang.X("firstrun.save", "保存并开始"), theme.ConfirmIcon(), d.save)
	d.Save.Importance = widget.HighImportance
	d.body = container.NewVBox(intro, form, caHint, d.msg, container.NewGridWithColumns(3, d.Later, d.Check, d.Save))
	d.dlg = dialog.NewCustomWithoutButtons(lang.X("firstrun.title", "设置续期服务"), d.body, d.win)
	d.vm.Message.AddListener(binding.NewDataListener(d.messageChanged))
	d.vm.Level.AddListener(binding.NewDataListener(d.messageChanged))
	d.vm.Busy.AddListener(binding.NewDataListener(d.busyChanged))
}

// Show opens the dialog with the focus in the address. Esc puts it off.
func (d *firstRunDialog) Show() {
	onEscWhileOpen(d.win, d.dlg, d.later)
	d.dlg.Resize(fyne.NewSize(firstRunWidth, 0))
	d.dlg.Show()
	d.win.Canvas().Focus(d.URL)
}

func (d *firstRunDialog) check() {
	d.running.Go(func() { _, _ = d.vm.Check(d.ctx) })
}

func (d *firstRunDialog) save() {
	d.running.Go(func() {
		acc, err := d.vm.Save(d.ctx)
		if err != nil {
			return // the message says why
		}
		fyne.Do(func() {
			d.dlg.Hide()
			d.onSaved(acc)
		})
	})
}

// later closes the dialog, writing nothing; the journey tabs offer it again.
func (d *firstRunDialog) later() {
	if busy, _ := d.vm.Busy.Get(); busy {
		return // the check ends within its timeout
	}
	d.dlg.Hide()
}

// chooseCA opens the file dialog for the CA's certificate.
func (d *firstRunDialog) chooseCA() {
	fd := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		_ = r.Close()
		d.CA.SetText(r.URI().Path())
	}, d.win)
	fd.SetFilter(storage.NewExtensionFileFilter([]string{".pem", ".crt", ".cer"}))
	fd.Resize(d.win.Canvas().Size())
	fd.Show()
}

// messageChanged shows the check's outcome in its colour, and lays the
// dialog out again: a message of two lines makes it taller.
func (d *firstRunDialog) messageChanged() {
	text, _ := d.vm.Message.Get()
	lvl, _ := d.vm.Level.Get()
	switch model.Level(lvl) {
	case model.LevelOK:
		d.msg.Importance = widget.SuccessImportance
	case model.LevelError:
		d.msg.Importance = widget.DangerImportance
	default:
		d.msg.Importance = widget.MediumImportance
	}
	d.msg.SetText(text)
	d.dlg.Resize(fyne.NewSize(firstRunWidth, 0))
}

func (d *firstRunDialog) busyChanged() {
	busy, _ := d.vm.Busy.Get()
	for _, b := range []*widget.Button{d.Check, d.Save, d.Later, d.Choose} {
		if busy {
			b.Disable()
		} else {
			b.Enable()
		}
	}
}

// showFirstRun opens the first-run dialog (once built, the same one each
// time, keeping what was typed). A saved service starts the journey.
func (u *UI) showFirstRun() {
	if u.deps.FirstRun == nil || u.journey != nil {
		return
	}
	if u.firstRun == nil {
		u.firstRun = newFirstRunDialog(u.ctx, u.deps.FirstRun, u.Win, func(acc *model.Account) {
			u.setJourney(acc)
			if u.journey != nil {
				u.journey.Start()
				u.journey.Show(screenSignIn) // the next step
			}
		})
	}
	u.firstRun.Show()
}

// noJourney is the journey's tabs without a service: what first run or a
// configuration problem says, else the placeholders.
func (u *UI) noJourney() []*container.TabItem {
	items := placeholders()
	if u.deps.FirstRun == nil && u.deps.ServiceProblem == "" {
		return items
	}
	for _, it := range items {
		it.Content = container.NewPadded(u.noServicePanel())
	}
	return items
}

// noServicePanel says why the journey is not there and, at first run,
// offers the dialog.
func (u *UI) noServicePanel() fyne.CanvasObject {
	titleText := lang.X("firstrun.none_title", "尚未设置续期服务")
	bodyText := lang.X("firstrun.none_body", "续期证书需要连接CA的续期服务。请填写CA提供的服务地址；“UKey 与证书”页面无需设置即可使用。")
	if u.deps.ServiceProblem != "" {
		titleText = lang.X("firstrun.problem_title", "续期服务的配置有误")
		bodyText = lang.X("firstrun.problem_body", "请联系本单位的电脑管理员或CA修改配置：{{.Err}}", map[string]any{"Err": u.deps.ServiceProblem})
	}
	title := widget.NewLabel(titleText)
	title.SizeName = theme.SizeNameHeadingText
	body := widget.NewLabel(bodyText)
	body.Wrapping = fyne.TextWrapWord
	objs := []fyne.CanvasObject{title, body}
	if u.deps.ServiceProblem == "" {
		open := widget.NewButtonWithIcon(lang.X("firstrun.open", "设置续期服务…"), theme.SettingsIcon(), u.showFirstRun)
		open.Importance = widget.HighImportance
		objs = append(objs, container.NewHBox(open))
	}
	return container.NewVBox(objs...)
}

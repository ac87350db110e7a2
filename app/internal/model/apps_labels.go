package model

import (
	"fyne.io/fyne/v2/lang"

	"github.com/ukeyrenew/ukeyrenew/renewal"
)

// StatusText names a status in the interface language.
func StatusText(s renewal.Status) (string, Level) {
	switch s {
	case renewal.StatusEditing:
		return lang.X("status.editing", "编辑中"), LevelNotice
	case renewal.StatusPendingReview:
		return lang.X("status.pending_review", "待审核"), LevelNotice
	case renewal.StatusOnHold:
		return lang.X("status.on_hold", "风险核查中"), LevelWarning
	case renewal.StatusApproved:
		return lang.X("status.approved", "审核通过"), LevelOK
	case renewal.StatusRejected:
		return lang.X("status.rejected", "审核不通过"), LevelError
	case renewal.StatusReadyToDownload:
		return lang.X("status.ready_to_download", "待下载"), LevelOK
	case renewal.StatusInstalled:
		return lang.X("status.installed", "已办理"), LevelOK
	case renewal.StatusCancelled:
		return lang.X("status.cancelled", "已取消"), LevelWarning
	}
	return string(s), LevelWarning
}

// PaymentText names a payment state.
func PaymentText(p renewal.Payment) string {
	switch p {
	case renewal.PaymentUnpaid:
		return lang.X("payment.unpaid", "未支付")
	case renewal.PaymentPaid:
		return lang.X("payment.paid", "已支付")
	case renewal.PaymentRefunding:
		return lang.X("payment.refunding", "退款中")
	case renewal.PaymentRefunded:
		return lang.X("payment.refunded", "已退款")
	}
	return string(p)
}

// Steps is an application's progress under policy p, in the order the
// policy takes them.
func Steps(a renewal.Application, p renewal.Policy) []AppStep {
	st := a.Status
	reviewed := st == renewal.StatusApproved || st == renewal.StatusReadyToDownload || st == renewal.StatusInstalled
	fill := AppStep{lang.X("step.fill", "填写申请"), st != renewal.StatusEditing && st != renewal.StatusRejected}
	review := AppStep{lang.X("step.review", "审核"), reviewed}
	pay := AppStep{lang.X("step.pay", "支付"), a.Payment == renewal.PaymentPaid}
	steps := []AppStep{fill, review, pay}
	if p.PaymentTiming == renewal.PayBeforeReview {
		steps = []AppStep{fill, pay, review}
	}
	if p.FinVerifyRequired {
		steps = append(steps, AppStep{lang.X("step.finverify", "金融认证"),
			a.FinVerify == renewal.FinVerifyVerified || st == renewal.StatusReadyToDownload || st == renewal.StatusInstalled})
	}
	return append(steps, AppStep{lang.X("step.write", "写入 UKey"), st == renewal.StatusInstalled})
}

// DocKinds are the kinds of document a clerk uploads, in the order the
// documents dialog shows them: the signed form scan, then the holder's ID
// card photos (optional), then anything else the reviewer asked for.
func DocKinds() []renewal.DocumentKind {
	return []renewal.DocumentKind{renewal.DocApplicationForm, renewal.DocIDFront, renewal.DocIDBack, renewal.DocOther}
}

// DocKindText names a document kind in the interface language.
func DocKindText(k renewal.DocumentKind) string {
	switch k {
	case renewal.DocApplicationForm:
		return lang.X("docs.kind.application_form", "申请表扫描件")
	case renewal.DocIDFront:
		return lang.X("docs.kind.id_front", "身份证人像面")
	case renewal.DocIDBack:
		return lang.X("docs.kind.id_back", "身份证国徽面")
	case renewal.DocOther:
		return lang.X("docs.kind.other", "其他")
	}
	return string(k)
}

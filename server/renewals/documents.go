package renewals

import (
	"context"
	"errors"
	"io"

	"github.com/ukeyrenew/ukeyrenew/renewal"
	"github.com/ukeyrenew/ukeyrenew/server/store"
)

// Documents lists the documents of application id.
func (s *Service) Documents(ctx context.Context, c Caller, id string) ([]*renewal.Document, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	docs, err := s.store.Documents(ctx, c.Scope(), id)
	return docs, StoreError(err, "")
}

// UploadDocument stores data as a document of application id (action
// upload_document); the content must be a PDF or an image.
func (s *Service) UploadDocument(ctx context.Context, c Caller, id string, req renewal.UploadDocumentRequest, data []byte) (*renewal.Document, error) {
	return s.UploadDocumentFrom(ctx, c, id, req, int64(len(data)), data, func() ([]byte, error) { return data, nil })
}

// UploadDocumentFrom is UploadDocument for a content of size bytes that
// begins with head (enough to tell its type) and that load reads into
// memory. load is called inside the write transaction, after the checks:
// uploads waiting for the store hold none of their bytes in memory.
func (s *Service) UploadDocumentFrom(ctx context.Context, c Caller, id string, req renewal.UploadDocumentRequest,
	size int64, head []byte, load func() ([]byte, error)) (*renewal.Document, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, renewal.Errorf(renewal.CodeRequired, "document", "the file is empty")
	}
	ct, err := renewal.SniffDocument(head)
	if err != nil {
		return nil, err
	}
	d := &renewal.Document{ApplicationID: id, Kind: req.Kind, Name: req.Name, ContentType: ct}
	err = s.store.Write(ctx, func(tx *store.Tx) error {
		if _, err := s.loadIn(ctx, tx, c, id, renewal.ActionUploadDocument); err != nil {
			return err
		}
		data, err := load()
		if err != nil {
			return err
		}
		return tx.AddDocument(ctx, c.Scope(), d, data, c.Change("document.upload"))
	})
	if errors.Is(err, store.ErrLimit) {
		return nil, tooManyDocuments()
	}
	if err != nil {
		return nil, StoreError(err, "document")
	}
	return d, nil
}

// CheckUpload says whether the caller could add a document to application
// id now (it exists in their scope, its state allows upload_document, it
// holds fewer than MaxDocumentsPerApp documents), with the errors
// UploadDocument would give, so that an upload is refused before its body
// is read. UploadDocument checks all again in its transaction.
func (s *Service) CheckUpload(ctx context.Context, c Caller, id string) error {
	if _, err := s.load(ctx, c, id, renewal.ActionUploadDocument); err != nil {
		return err
	}
	docs, err := s.store.Documents(ctx, c.Scope(), id)
	if err != nil {
		return StoreError(err, "")
	}
	if len(docs) >= renewal.MaxDocumentsPerApp {
		return tooManyDocuments()
	}
	return nil
}

func tooManyDocuments() error {
	return renewal.Errorf(renewal.CodeTooLong, "document", "at most %d documents an application", renewal.MaxDocumentsPerApp)
}

// Document returns document docID of application id and its content.
func (s *Service) Document(ctx context.Context, c Caller, id, docID string) (*renewal.Document, []byte, error) {
	if err := checkIDs(id, docID); err != nil {
		return nil, nil, err
	}
	d, data, err := s.store.Document(ctx, c.Scope(), id, docID)
	if err != nil {
		return nil, nil, StoreError(err, "")
	}
	return d, data, nil
}

// OpenDocument returns document docID of application id and a reader of
// its bytes, a chunk at a time (store.OpenDocument: the reader fails at
// the end if the bytes do not match the stored hash).
func (s *Service) OpenDocument(ctx context.Context, c Caller, id, docID string) (*renewal.Document, io.Reader, error) {
	if err := checkIDs(id, docID); err != nil {
		return nil, nil, err
	}
	d, r, err := s.store.OpenDocument(ctx, c.Scope(), id, docID)
	if err != nil {
		return nil, nil, StoreError(err, "")
	}
	return d, r, nil
}

// DeleteDocument deletes document docID of application id (action
// delete_document). The state is checked inside the delete's transaction,
// so a submit cannot slip in between the check and the delete.
func (s *Service) DeleteDocument(ctx context.Context, c Caller, id, docID string) error {
	if err := checkIDs(id, docID); err != nil {
		return err
	}
	err := s.store.Write(ctx, func(tx *store.Tx) error {
		if _, err := s.loadIn(ctx, tx, c, id, renewal.ActionDeleteDocument); err != nil {
			return err
		}
		return tx.DeleteDocument(ctx, c.Scope(), id, docID, c.Change("document.delete"))
	})
	return StoreError(err, "")
}

func checkIDs(ids ...string) error {
	for _, id := range ids {
		if err := CheckID(id); err != nil {
			return err
		}
	}
	return nil
}

package store

import (
	"context"
	"slices"
	"testing"
)

// TestSearchDirty: the triggers list a practice to re-index when it is
// created and when a column its search row is made from really changes,
// and not otherwise.
func TestSearchDirty(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	ctx := context.Background()
	dirty := func() []string {
		t.Helper()
		var ids []string
		err := db.Update(ctx, func(tx *Tx) error {
			var err error
			ids, err = tx.SearchDirtyPractices(ctx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	update := func(fn func(tx *Tx) error) {
		t.Helper()
		if err := db.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	p := &Practice{Name: "Élodie Dupré", TimeZone: "Europe/Paris", Status: PracticeVerified}
	update(func(tx *Tx) error { return tx.CreatePractice(ctx, p) })
	if got := dirty(); !slices.Equal(got, []string{p.ID}) {
		t.Fatalf("after creation: %v", got)
	}
	index := func() {
		t.Helper()
		update(func(tx *Tx) error {
			return tx.SaveSearchKeys(ctx, SearchKeys{PracticeID: p.ID, Verified: true, Name: "elodie dupre", City: "lyon",
				PostalCode: "69003", Languages: "|fr|"})
		})
		if got := dirty(); len(got) != 0 {
			t.Fatalf("after indexing: %v", got)
		}
	}
	index()
	if ok, err := db.SearchDirty(ctx); err != nil || ok {
		t.Fatalf("SearchDirty = %v, %v", ok, err)
	}
	// The same settings saved again: nothing to do.
	update(func(tx *Tx) error { return tx.UpdateSettings(ctx, p.ID, p.Settings) })
	if got := dirty(); len(got) != 0 {
		t.Errorf("after an unchanged save: %v", got)
	}
	for name, change := range map[string]func(tx *Tx) error{
		"City": func(tx *Tx) error {
			st := p.Settings
			st.City = "Lyon"
			return tx.UpdateSettings(ctx, p.ID, st)
		},
		"Name":   func(tx *Tx) error { return tx.UpdatePracticeName(ctx, p.ID, "Élodie Dupré-Noël", "Europe/Paris") },
		"Status": func(tx *Tx) error { return tx.SetPracticeStatus(ctx, p.ID, PracticeRejected) },
		"TeleType": func(tx *Tx) error {
			return tx.CreateType(ctx, &AppointmentType{PracticeID: p.ID, Name: "Vidéo " + NewID(), Minutes: 15, Teleconsultation: true, NewPatients: true})
		},
	} {
		update(change)
		if got := dirty(); !slices.Equal(got, []string{p.ID}) {
			t.Errorf("after %s: %v", name, got)
		}
		index()
	}
	// An office type changes nothing the directory shows.
	update(func(tx *Tx) error {
		return tx.CreateType(ctx, &AppointmentType{PracticeID: p.ID, Name: "Consultation", Minutes: 15, NewPatients: true})
	})
	if got := dirty(); len(got) != 0 {
		t.Errorf("after an office type: %v", got)
	}
}

// TestSearchDirectory: the filters match folded words inside their column,
// postal codes by prefix, and pages come in name order with the total.
func TestSearchDirectory(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	ctx := context.Background()
	keys := []SearchKeys{
		{Name: "elodie dupre", Specialties: "medecin generaliste|acupuncture", City: "lyon", PostalCode: "69003", Languages: "|fr|en|", Teleconsultation: true},
		{Name: "jean pierre muller", Specialties: "cardiologue", City: "saint etienne", PostalCode: "42000", Languages: "|fr|de|"},
		{Name: "ana garcia", Specialties: "pediatre", City: "paris", PostalCode: "75015", Languages: "|es|", Teleconsultation: true},
		{Name: "zoe hidden", Specialties: "pediatre", City: "paris", PostalCode: "75015", Languages: "|fr|"},
	}
	ids := map[string]string{}
	err := db.Update(ctx, func(tx *Tx) error {
		for i, k := range keys {
			p := &Practice{Name: k.Name, TimeZone: "Europe/Paris", Status: PracticeVerified}
			if i == 3 {
				p.Status = PracticePending
			}
			if err := tx.CreatePractice(ctx, p); err != nil {
				return err
			}
			k.PracticeID, k.Verified = p.ID, p.Status == PracticeVerified
			if err := tx.SaveSearchKeys(ctx, k); err != nil {
				return err
			}
			ids[p.ID] = k.Name
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		f    DirectoryFilter
		want []string
	}{
		{"All", DirectoryFilter{}, []string{"ana garcia", "elodie dupre", "jean pierre muller"}},
		{"NameInside", DirectoryFilter{Name: []string{"odie"}}, []string{"elodie dupre"}},
		{"NameWords", DirectoryFilter{Name: []string{"pierre", "jean"}}, []string{"jean pierre muller"}},
		{"Specialty", DirectoryFilter{Specialty: []string{"acupunct"}}, []string{"elodie dupre"}},
		{"City", DirectoryFilter{City: []string{"etienne"}}, []string{"jean pierre muller"}},
		{"Postal", DirectoryFilter{PostalPrefix: "750"}, []string{"ana garcia"}},
		{"PostalNotInside", DirectoryFilter{PostalPrefix: "003"}, nil},
		{"Tele", DirectoryFilter{Teleconsultation: true}, []string{"ana garcia", "elodie dupre"}},
		{"Language", DirectoryFilter{Language: "de"}, []string{"jean pierre muller"}},
		{"LanguageWhole", DirectoryFilter{Language: "e"}, nil},
		{"NotVerified", DirectoryFilter{Name: []string{"zoe"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, total, err := db.SearchDirectory(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range list {
				got = append(got, ids[e.ID])
			}
			if !slices.Equal(got, tc.want) || total != len(tc.want) {
				t.Errorf("got %v (total %d), want %v", got, total, tc.want)
			}
		})
	}
	t.Run("Pages", func(t *testing.T) {
		for _, tc := range []struct {
			offset int
			want   []string
		}{{0, []string{"ana garcia", "elodie dupre"}}, {2, []string{"jean pierre muller"}}, {4, nil}} {
			list, total, err := db.SearchDirectory(ctx, DirectoryFilter{Limit: 2, Offset: tc.offset})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range list {
				got = append(got, ids[e.ID])
			}
			if !slices.Equal(got, tc.want) || total != 3 {
				t.Errorf("offset %d: %v (total %d), want %v of 3", tc.offset, got, total, tc.want)
			}
		}
	})
}

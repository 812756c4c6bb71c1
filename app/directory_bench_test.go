package app

// Benchmark for the Performance target of issue 4 (the directory):
//
//	directory search over 1,000 practitioners: p99 ≤ 10 ms server-side
//
// 1,000 verified practices with varied names, specialties, cities, postal
// codes and languages, a third offering teleconsultation; 100 of them have
// a generated 90-day planning (6 days × 8 h at 15 minutes, a quarter of the
// slots booked) so every result page computes next-available times. Each
// request goes through the whole handler chain (srv.Handler(), no sockets)
// and renders the page, next free times included. Run with
//
//	go test ./app/ -run '^$' -bench 'DirectorySearch' -benchtime 1x
//
// One op is a batch of 2,000 searches (name fragments typed without
// accents, specialties, cities, postal code prefixes, the teleconsultation
// and language filters, combinations, the bare home page), so even
// -benchtime 1x gives a meaningful p99. Quote p50-ms and p99-ms.

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"daraport/store"
)

var (
	benchFirstNames = []string{"Élodie", "Jean-Pierre", "Ana", "François", "Zoé", "Léa", "Noël", "Hélène", "Jérôme", "Chloé",
		"Maëlle", "Stéphane", "Agnès", "Loïc", "Inès", "Björn", "Jürgen", "Núria", "José", "Ömer", "Sébastien", "Aurélie",
		"Benoît", "Cécile", "Gaëlle", "Thierry", "Marie", "Paul", "Sophie", "Nicolas"}
	benchLastNames = []string{"Dupré", "Müller", "García", "Lefèvre", "Bérénice", "Rousseau", "Faure", "Gérard", "Ménard", "Côté",
		"Lemaître", "Bouchet", "Nuñez", "Schröder", "Durand", "Martin", "Bernard", "Petit", "Robert", "Richard", "Dubois",
		"Moreau", "Laurent", "Simon", "Michel", "Leroy", "Roux", "David", "Bertrand", "Morel", "Fournier", "Girard", "Bonnet",
		"Mercier", "Blanc", "Guérin", "Boyer", "Garnier", "Chevalier", "François"}
	benchSpecialties = []string{"Médecin généraliste", "Pédiatre", "Cardiologue", "Dermatologue", "Gynécologue", "Ophtalmologue",
		"Psychiatre", "Kinésithérapeute", "Ostéopathe", "Chirurgien-dentiste", "Orthophoniste", "Sage-femme", "Psychologue",
		"Rhumatologue", "Endocrinologue", "Diététicien", "Podologue", "Acupuncture", "Allergologue", "Pneumologue"}
	benchCities = [][2]string{{"Paris", "75015"}, {"Paris", "75011"}, {"Lyon", "69003"}, {"Lyon", "69007"}, {"Marseille", "13008"},
		{"Saint-Étienne", "42000"}, {"Nîmes", "30000"}, {"Besançon", "25000"}, {"Orléans", "45000"}, {"Béziers", "34500"},
		{"Nice", "06000"}, {"Toulouse", "31000"}, {"Nantes", "44000"}, {"Rennes", "35000"}, {"Lille", "59000"},
		{"Grenoble", "38000"}, {"Montpellier", "34000"}, {"Strasbourg", "67000"}, {"Bordeaux", "33000"}, {"Évry", "91000"},
		{"Angoulême", "16000"}, {"Épinal", "88000"}, {"Aix-en-Provence", "13100"}, {"Clermont-Ferrand", "63000"}, {"Créteil", "94000"}}
	benchDirLanguages = [][]string{{"fr"}, {"fr", "en"}, {"fr", "es"}, {"fr", "de"}, {"fr", "en", "it"}, {"fr", "ar"}, {"en"}, {"fr", "pt"}}
)

// directoryBench is the database of BenchmarkDirectorySearch, built once.
var directoryBench struct {
	once    sync.Once
	srv     *Server
	queries []string
	err     error
}

func directoryDB(b *testing.B) {
	db := &directoryBench
	db.once.Do(func() {
		old, _ := filepath.Glob(filepath.Join(os.TempDir(), "daraport-bench-directory-*"))
		for _, d := range old {
			if st, err := os.Stat(d); err == nil && time.Since(st.ModTime()) > time.Hour {
				os.RemoveAll(d)
			}
		}
		dir, err := os.MkdirTemp("", "daraport-bench-directory-")
		if err != nil {
			db.err = err
			return
		}
		ctx := context.Background()
		key := make([]byte, 32)
		rand.Read(key)
		sdb, err := store.Open(ctx, store.Options{Dir: dir, Key: key})
		if err != nil {
			db.err = err
			return
		}
		cfg := DefaultConfig()
		cfg.Server.DataDir = dir
		db.srv, err = New(cfg, sdb, os.DirFS("../templates"), os.DirFS("../assets"), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			db.err = err
			return
		}
		if _, _, err := AddUser(ctx, sdb, cfg, UserSpec{Email: "admin@example.org", Name: "Ada Admin", Role: store.RoleAdmin, Password: testPassword}); err != nil {
			db.err = err
			return
		}
		t0 := time.Now()
		rng := mrand.New(mrand.NewPCG(7, 11))
		var planned []string
		err = sdb.Update(ctx, func(tx *store.Tx) error {
			for i := range 1000 {
				st := store.DefaultSettings()
				st.Specialties = []string{benchSpecialties[rng.IntN(len(benchSpecialties))]}
				if rng.IntN(3) == 0 {
					st.Specialties = append(st.Specialties, benchSpecialties[rng.IntN(len(benchSpecialties))])
				}
				city := benchCities[rng.IntN(len(benchCities))]
				st.City, st.PostalCode = city[0], city[1]
				st.Languages = benchDirLanguages[rng.IntN(len(benchDirLanguages))]
				st.HorizonDays, st.SlotMinutes, st.MinNoticeMinutes = 90, 15, 60
				name := benchFirstNames[rng.IntN(len(benchFirstNames))] + " " + benchLastNames[rng.IntN(len(benchLastNames))]
				p := &store.Practice{Name: name, TimeZone: "Europe/Paris", Status: store.PracticeVerified, Settings: st}
				if err := tx.CreatePractice(ctx, p); err != nil {
					return err
				}
				types := []*store.AppointmentType{{PracticeID: p.ID, Name: "Consultation", Minutes: 15 * (1 + rng.IntN(3)), Price: 2500, Currency: "EUR", NewPatients: true}}
				if i%3 == 0 {
					types = append(types, &store.AppointmentType{PracticeID: p.ID, Name: "Téléconsultation", Minutes: 15, Price: 2500, Currency: "EUR",
						Teleconsultation: true, NewPatients: true})
				}
				for _, t := range types {
					if err := tx.CreateType(ctx, t); err != nil {
						return err
					}
				}
				if i%10 == 0 {
					if err := tx.SaveHours(ctx, p.ID, benchHoursFrom, `{"":{"mon":[["08:00","12:00"],["13:00","17:00"]],"tue":[["08:00","12:00"],["13:00","17:00"]],"wed":[["08:00","12:00"],["13:00","17:00"]],"thu":[["08:00","12:00"],["13:00","17:00"]],"fri":[["08:00","12:00"],["13:00","17:00"]],"sat":[["08:00","12:00"],["13:00","17:00"]],"sun":[]}}`); err != nil {
						return err
					}
					planned = append(planned, p.ID)
				}
			}
			return nil
		})
		if err != nil {
			db.err = err
			return
		}
		rows, err := benchGenerate(ctx, db.srv, sdb, planned, 90)
		if err != nil {
			db.err = err
			return
		}
		err = sdb.Update(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE slots SET state = 'booked', appointment_id = 'bench' WHERE abs(random()) % 4 = 0")
			return err
		})
		if err != nil {
			db.err = err
			return
		}
		b.Logf("setup: 1,000 practices, 100 planned (%d slot rows, a quarter booked) in %v, in %s", rows, time.Since(t0).Round(time.Millisecond), dir)
		// The first search indexes the 1,000 new practices (a one-time
		// cost after they are created or changed): timed apart.
		t1 := time.Now()
		rec := httptest.NewRecorder()
		db.srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != http.StatusOK {
			db.err = fmt.Errorf("first search: status %d", rec.Code)
			return
		}
		b.Logf("first search, indexing 1,000 practices: %v", time.Since(t1).Round(100*time.Microsecond))

		// The searches: what people type (no accents, partial, any case).
		var qs []url.Values
		for _, w := range []string{"elodie", "dupr", "muller", "garcia", "lefev", "jean pierre", "zoe", "helene", "JEROME", "noel",
			"cote", "martin", "ma", "o", "schroder", "nunez", "francois", "gaelle", "benoit", "sebastien durand", "xyzzy"} {
			qs = append(qs, url.Values{"q": {w}})
		}
		for _, w := range []string{"generaliste", "pediatre", "cardio", "dermato", "psych", "kine", "dentiste", "sage femme", "ORL"} {
			qs = append(qs, url.Values{"specialty": {w}})
		}
		for _, w := range []string{"paris", "lyon", "saint etienne", "nimes", "besancon", "75", "750", "69003", "13", "evry", "aix"} {
			qs = append(qs, url.Values{"city": {w}})
		}
		qs = append(qs, url.Values{"teleconsultation": {"true"}}, url.Values{"language": {"en"}}, url.Values{"language": {"ar"}},
			url.Values{"teleconsultation": {"true"}, "city": {"paris"}}, url.Values{"specialty": {"generaliste"}, "city": {"lyon"}},
			url.Values{"q": {"ma"}, "language": {"fr"}, "teleconsultation": {"true"}}, url.Values{"specialty": {"pediatre"}, "language": {"es"}},
			url.Values{}, url.Values{"page": {"3"}}, url.Values{"city": {"paris"}, "page": {"2"}})
		for _, q := range qs {
			db.queries = append(db.queries, q.Encode())
		}
	})
	if db.err != nil {
		b.Fatal(db.err)
	}
}

// BenchmarkDirectorySearch times GET /?… (the directory page with its next
// free times) over 1,000 practices. Target: p99 ≤ 10 ms.
func BenchmarkDirectorySearch(b *testing.B) {
	benchDirectory(b, "/?", "text/html")
}

// BenchmarkDirectorySearchAPI times GET /api/v1/practitioners?…&limit=20
// (the same searches, one page of 20 with next_available).
func BenchmarkDirectorySearchAPI(b *testing.B) {
	benchDirectory(b, "/api/v1/practitioners?limit=20&", "application/json")
}

func benchDirectory(b *testing.B, prefix, contentType string) {
	directoryDB(b)
	db := &directoryBench
	h := db.srv.Handler()
	const batch = 2000
	rng := mrand.New(mrand.NewPCG(3, 5))
	durations := make([]time.Duration, 0, b.N*batch)
	results := 0
	b.ResetTimer()
	for range b.N {
		for range batch {
			q := db.queries[rng.IntN(len(db.queries))]
			if prefix != "/?" {
				if v, _ := url.ParseQuery(q); v.Has("page") {
					continue
				}
			}
			req := httptest.NewRequest("GET", prefix+q, nil)
			req.Header.Set("Accept-Language", "fr-FR,fr;q=0.9")
			rec := httptest.NewRecorder()
			t0 := time.Now()
			h.ServeHTTP(rec, req)
			durations = append(durations, time.Since(t0))
			if rec.Code != http.StatusOK || !slices.Contains([]string{contentType + "; charset=utf-8"}, rec.Header().Get("Content-Type")) {
				b.Fatalf("%s: status %d %s: %.300s", q, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			if q == "" && results == 0 {
				results = len(dirResults(rec.Body.String()))
			}
		}
	}
	b.StopTimer()
	slices.Sort(durations)
	pct := func(p float64) float64 {
		return float64(durations[min(len(durations)-1, int(p*float64(len(durations))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(durations[len(durations)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(len(durations)), "searches")
	if prefix == "/?" && results != directoryPageSize {
		b.Errorf("the bare directory page shows %d results, want %d", results, directoryPageSize)
	}
}

package app

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/be"
	"github.com/rickar/cal/v2/ch"
	"github.com/rickar/cal/v2/de"
	"github.com/rickar/cal/v2/es"
	"github.com/rickar/cal/v2/fr"
	"github.com/rickar/cal/v2/gb"

	"daraport/app/schedule"
)

// Public holidays of a practice's country (settings Country, ISO 3166-1
// alpha-2), from the maintained rickar/cal calendars. Only nationwide
// holidays are proposed: regional ones (German Länder, Swiss cantons,
// Spanish communities) would need the practice's region, which the
// settings do not hold yet.

// holiday is one public holiday on one local day. Name is as the library
// gives it (in the country's language). Substitute marks a day observed
// instead of a holiday that falls on a weekend (the UK's substitute bank
// holidays).
type holiday struct {
	Day        schedule.Day
	Name       string
	Substitute bool
}

// holidayCalendars maps a country to its nationwide holidays.
var holidayCalendars = map[string]func() []*cal.Holiday{
	"FR": func() []*cal.Holiday { return fr.Holidays },
	"DE": func() []*cal.Holiday { return de.Holidays }, // the library's national list: the days every Land observes
	"ES": func() []*cal.Holiday { return es.Holidays },
	"GB": func() []*cal.Holiday { return gb.Holidays },
	"BE": func() []*cal.Holiday { return be.Holidays },
	"CH": swissNationwide,
}

// swissNationwide is the holidays every canton observes. The library's
// ch.Holidays is the union of all cantonal lists (Josefstag, Fronleichnam…
// are local), so the nationwide ones are computed as the intersection of the
// 26 cantons' lists, once.
var swissNationwide = sync.OnceValue(func() []*cal.Holiday {
	cantons := [][]*cal.Holiday{ch.HolidaysZH, ch.HolidaysBE, ch.HolidaysLU, ch.HolidaysUR, ch.HolidaysSZ, ch.HolidaysOW,
		ch.HolidaysNW, ch.HolidaysGL, ch.HolidaysZG, ch.HolidaysFR, ch.HolidaysSO, ch.HolidaysBS, ch.HolidaysBL, ch.HolidaysSH,
		ch.HolidaysAR, ch.HolidaysAI, ch.HolidaysSG, ch.HolidaysGR, ch.HolidaysAG, ch.HolidaysTG, ch.HolidaysVD, ch.HolidaysTI,
		ch.HolidaysVS, ch.HolidaysNE, ch.HolidaysGE, ch.HolidaysJU}
	count := map[*cal.Holiday]int{}
	for _, c := range cantons {
		seen := map[*cal.Holiday]bool{}
		for _, h := range c {
			if !seen[h] {
				seen[h] = true
				count[h]++
			}
		}
	}
	var out []*cal.Holiday
	for _, h := range ch.Holidays {
		if count[h] == len(cantons) {
			out = append(out, h)
		}
	}
	return out
})

// holidayCountry normalises a country code and tells whether its holidays
// are known ("UK" is taken as GB).
func holidayCountry(country string) (string, bool) {
	c := strings.ToUpper(strings.TrimSpace(country))
	if c == "UK" {
		c = "GB"
	}
	_, ok := holidayCalendars[c]
	return c, ok
}

// holidaysFor returns the nationwide public holidays of country between
// local days from and to (inclusive), by day: each holiday on its own date,
// plus its substitute day when the country observes it on another day.
// Holidays sharing a day are merged ("A / B"). An unsupported country gives
// an empty list (the page says so).
func holidaysFor(country string, from, to schedule.Day) []holiday {
	c, ok := holidayCountry(country)
	if !ok || to.Before(from) {
		return nil
	}
	list := holidayCalendars[c]()
	byDay := map[schedule.Day]*holiday{}
	add := func(d schedule.Day, name string, substitute bool) {
		if d.Before(from) || to.Before(d) {
			return
		}
		if h, ok := byDay[d]; ok {
			if !strings.Contains(" / "+h.Name+" / ", " / "+name+" / ") {
				h.Name += " / " + name
			}
			h.Substitute = h.Substitute && substitute
			return
		}
		byDay[d] = &holiday{Day: d, Name: name, Substitute: substitute}
	}
	for y := from.Y; y <= to.Y; y++ {
		for _, h := range list {
			actual, observed := h.Calc(y)
			if actual.IsZero() {
				continue
			}
			a := schedule.DayOf(actual)
			add(a, h.Name, false)
			if o := schedule.DayOf(observed); !observed.IsZero() && o != a {
				add(o, h.Name, true)
			}
		}
	}
	out := make([]holiday, 0, len(byDay))
	for _, h := range byDay {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Day.Before(out[j].Day) })
	return out
}

// holidayOn returns the holiday of country on day, if there is one.
func holidayOn(country string, day schedule.Day) (holiday, bool) {
	for _, h := range holidaysFor(country, day, day) {
		return h, true
	}
	return holiday{}, false
}

// holidayYearAfter returns the last day of the twelve months starting on day.
func holidayYearAfter(day schedule.Day) schedule.Day {
	return schedule.DayOf(time.Date(day.Y+1, day.M, day.D, 12, 0, 0, 0, time.UTC)).AddDays(-1)
}

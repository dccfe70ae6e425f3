/* libical's reading of an .ics file, for tests/test_ics_clients.py.
 *
 * Usage: libical_check FILE. Parses FILE with libical, runs its iTIP restriction check
 * (RFC 5546: which properties each METHOD requires or forbids) and prints
 *   ERROR <text>                      for every X-LIC-ERROR (parse or restriction)
 *   EVENT <uid> <start> <end>         for every VEVENT, as UTC seconds since 1970
 * Times with a TZID are converted with the VTIMEZONE of that name *in the file*
 * (icalcomponent_get_timezone), never libical's builtin zones: a TZID without one in the
 * file is an error. Exit status 0 when there was no error, 1 otherwise, 2 on bad usage.
 */
#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>

static int errors = 0;

static void print_errors(icalcomponent *component) {
    for (icalproperty *p = icalcomponent_get_first_property(component, ICAL_XLICERROR_PROPERTY);
         p != NULL; p = icalcomponent_get_next_property(component, ICAL_XLICERROR_PROPERTY)) {
        printf("ERROR %s: %s\n", icalcomponent_kind_to_string(icalcomponent_isa(component)),
               icalproperty_get_xlicerror(p));
        errors++;
    }
    for (icalcomponent *c = icalcomponent_get_first_component(component, ICAL_ANY_COMPONENT);
         c != NULL; c = icalcomponent_get_next_component(component, ICAL_ANY_COMPONENT)) {
        print_errors(c);
    }
}

static long long instant(icalcomponent *calendar, icalcomponent *event, icalproperty_kind kind) {
    icalproperty *property = icalcomponent_get_first_property(event, kind);
    if (property == NULL) {
        printf("ERROR VEVENT: no %s\n", icalproperty_kind_to_string(kind));
        errors++;
        return 0;
    }
    struct icaltimetype time = icalvalue_get_datetime(icalproperty_get_value(property));
    icalparameter *tzid = icalproperty_get_first_parameter(property, ICAL_TZID_PARAMETER);
    if (tzid == NULL) {
        if (!icaltime_is_utc(time)) {
            printf("ERROR VEVENT: floating time in %s\n", icalproperty_kind_to_string(kind));
            errors++;
        }
        return (long long)icaltime_as_timet_with_zone(time, icaltimezone_get_utc_timezone());
    }
    icaltimezone *zone = icalcomponent_get_timezone(calendar, icalparameter_get_tzid(tzid));
    if (zone == NULL) {
        printf("ERROR VEVENT: no VTIMEZONE %s in the file\n", icalparameter_get_tzid(tzid));
        errors++;
        return 0;
    }
    return (long long)icaltime_as_timet_with_zone(time, zone);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.ics\n", argv[0]);
        return 2;
    }
    FILE *file = fopen(argv[1], "rb");
    if (file == NULL) {
        perror(argv[1]);
        return 2;
    }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (text == NULL || fread(text, 1, (size_t)size, file) != (size_t)size) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 2;
    }
    text[size] = '\0';
    fclose(file);

    icalcomponent *calendar = icalparser_parse_string(text);
    if (calendar == NULL || icalcomponent_isa(calendar) != ICAL_VCALENDAR_COMPONENT) {
        printf("ERROR not one VCALENDAR\n");
        return 1;
    }
    icalrestriction_check(calendar); /* adds an X-LIC-ERROR for each failed restriction */
    print_errors(calendar);
    for (icalcomponent *event = icalcomponent_get_first_component(calendar, ICAL_VEVENT_COMPONENT);
         event != NULL;
         event = icalcomponent_get_next_component(calendar, ICAL_VEVENT_COMPONENT)) {
        long long start = instant(calendar, event, ICAL_DTSTART_PROPERTY);
        long long end = instant(calendar, event, ICAL_DTEND_PROPERTY);
        printf("EVENT %s %lld %lld\n", icalcomponent_get_uid(event), start, end);
    }
    icalcomponent_free(calendar);
    free(text);
    return errors ? 1 : 0;
}

"""The figures the two published 2022 reports print (../shared/reference/reports/)."""

NEWHAM = {
    "round": "Newham 2022",
    "cases": 33,
    "percentages": {
        "2.2.1": 64,
        "2.2.2": 48,
        "2.2.3": 36,
        "2.3.1": 52,
        "2.3.2": 48,
        "2.3.3": 39,
        "2.4.1": 42,
        "2.4.2": 30,
        "2.4.3": 27,
        "2.5.1": 48,
        "2.5.2": 30,
        "2.5.3": 30,
        "2.6.1": 27,
    },
    "ratings": {
        "1.1": "Requires improvement",
        "1.2": "Good",
        "1.3": "Requires improvement",
        "1.4": "Good",
        "2.1": "Not applicable",
        "2.2": "Inadequate",
        "2.3": "Inadequate",
        "2.4": "Inadequate",
        "2.5": "Inadequate",
    },
    "score": 6,
    "max_score": 24,
    "overall_rating": "Requires improvement",
    "sentences": {
        "2.2": "Newham PDU is rated as 'Inadequate' for assessment as the lowest score out of the three key questions was 36 per cent.",
        "2.3": "Newham PDU is rated as 'Inadequate' for planning as the lowest score out of the three key questions was 39 per cent.",
        "2.4": "Newham PDU is rated as 'Inadequate' for implementation and delivery as the lowest score out of the three key questions was 27 per cent.",
        "2.5": "Newham PDU is rated as 'Inadequate' for reviewing as the lowest score out of the three key questions was 30 per cent for two key questions.",
    },
}

LEWISHAM = {
    "round": "Lewisham and Bromley 2022",
    "cases": 42,
    "percentages": {
        "2.2.1": 43,
        "2.2.2": 57,
        "2.2.3": 21,
        "2.3.1": 38,
        "2.3.2": 52,
        "2.3.3": 36,
        "2.4.1": 55,
        "2.4.2": 26,
        "2.4.3": 19,
        "2.5.1": 52,
        "2.5.2": 38,
        "2.5.3": 24,
        "2.6.1": 29,
    },
    "ratings": {
        "1.1": "Requires improvement",
        "1.2": "Requires improvement",
        "1.3": "Requires improvement",
        "1.4": "Requires improvement",
        "2.1": "Not applicable",
        "2.2": "Inadequate",
        "2.3": "Inadequate",
        "2.4": "Inadequate",
        "2.5": "Inadequate",
    },
    "score": 4,
    "max_score": 24,
    "overall_rating": "Inadequate",
    "sentences": {
        "2.2": "Lewisham and Bromley PDU is rated as 'Inadequate' for assessment as the lowest score out of the three key questions was 21 per cent.",
    },
    "overrides": {
        "1.1": "A rating of 'Inadequate' for all domain two standards would usually result in a rating of 'Inadequate' under HM Inspectorate of Probation guidance. However, the positives identified during the inspection override the guidance in this instance.",
    },
}

REPORTS = [NEWHAM, LEWISHAM]

"""A hand-made job dating shared by the pairing, planning and command-line tests.

JD runs on Monday 11 and Tuesday 12 May 2020. Offers: O1 (company S1, BTS-MS at MAX, dept 54,
2 positions) and O2 (S2, CAP-RI at YUT, dept 57, 1 position) are open; O3 is published after
the first day, O4 the year before, O5's only position went to CZ (contract signed): none of
them is open. Candidates, on 11 May 2020:
  CA adult, own consent, BTS-MS at MAX, postal code 54000            → eligible
  CB 15 that very day, own consent only, CAP-RI at YUT, 57100;
     a planned meeting with O1 on 11 May at 9:00 (Paris)             → eligible
  CC 14 (15 the next day), own consent only                          → not eligible
  CD 14, own and parent's consent, CAP-RI at YUT, 54500;
     a cancelled meeting with O2 (does not count)                    → eligible
  CE birth date unknown, own consent only                            → not eligible
  CF birth date unknown, both consents, BTS-MS at YUT, 97110 (971)   → eligible
  CG adult, no consent                                               → not eligible
  CH adult, consent, enrollment withdrawn: not seeking
  CZ contract signed: not seeking
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from services.jobdating.pairing import set_presentation_consent
from tests.conftest import load

S1 = "11111111100011"
S2 = "22222222200022"


def load_job_dating(engine: Engine) -> None:
    """Import the job dating above and record the consents."""
    load("sites", "code,name,city,department\nMAX,Maxéville,Maxéville,54\nYUT,Yutz,Yutz,57\n", engine)
    load(
        "programs",
        "code,name,level,site_code,seats\nBTS-MS,BTS MS,BTS,MAX,10\nBTS-MS,BTS MS,BTS,YUT,10\n"
        "CAP-RI,CAP RI,CAP,YUT,10\n",
        engine,
    )
    load(
        "events",
        "code,name,kind,starts_on,ends_on\nJD,Job dating,job_dating,2020-05-11,2020-05-12\n"
        "POV,Portes ouvertes,virtual,2020-04-14,2020-04-17\n",
        engine,
    )
    load("companies", f"siret,name\n{S1},Forges\n{S2},Usinage\n", engine)
    load(
        "candidates",
        "ref,first_name,birth_date,postal_code,created_at\n"
        "CA,Alice,2000-01-01,54000,2020-04-01 10:00\n"
        "CB,Bruno,2005-05-11,57100,2020-04-01 10:00\n"
        "CC,Chloé,2005-05-12,57000,2020-04-01 10:00\n"
        "CD,David,2006-01-01,54500,2020-04-01 10:00\n"
        "CE,Emma,,54000,2020-04-01 10:00\n"
        "CF,Fanny,,97110,2020-04-01 10:00\n"
        "CG,Gaël,2000-01-01,54000,2020-04-01 10:00\n"
        "CH,Hugo,2000-01-01,54000,2020-04-01 10:00\n"
        "CZ,Zoé,2000-01-01,54000,2020-04-01 10:00\n",
        engine,
    )
    load(
        "enrollments",
        "candidate_ref,program_code,site_code,enrolled_at,status\n"
        "CA,BTS-MS,MAX,2020-04-02 09:00,enrolled\n"
        "CB,CAP-RI,YUT,2020-04-02 09:00,pre_registered\n"
        "CC,CAP-RI,YUT,2020-04-02 09:00,enrolled\n"
        "CD,CAP-RI,YUT,2020-04-02 09:00,enrolled\n"
        "CE,BTS-MS,MAX,2020-04-02 09:00,enrolled\n"
        "CF,BTS-MS,YUT,2020-04-02 09:00,enrolled\n"
        "CG,BTS-MS,MAX,2020-04-02 09:00,enrolled\n"
        "CH,BTS-MS,MAX,2020-04-02 09:00,withdrawn\n"
        "CZ,BTS-MS,YUT,2020-04-02 09:00,enrolled\n",
        engine,
    )
    load(
        "offers",
        "ref,siret,program_code,site_code,positions,published_on\n"
        f"O1,{S1},BTS-MS,MAX,2,2020-04-01\n"
        f"O2,{S2},CAP-RI,YUT,1,2020-05-11\n"
        f"O3,{S2},BTS-MS,YUT,1,2020-05-12\n"
        f"O4,{S1},BTS-MS,MAX,1,2019-12-31\n"
        f"O5,{S2},BTS-MS,YUT,1,2020-02-01\n",
        engine,
    )
    load(
        "meetings",
        "ref,event_code,candidate_ref,offer_ref,starts_at,duration_min,status,outcome,contract_signed_on\n"
        "M1,JD,CZ,O5,2020-05-11 14:00,20,held,contract_signed,2020-05-11\n"
        "M2,JD,CB,O1,2020-05-11 09:00,20,planned,none,\n"
        "M3,JD,CD,O2,2020-05-11 09:00,20,cancelled,none,\n",
        engine,
    )
    consents = {
        "CA": (True, False),
        "CB": (True, False),
        "CC": (True, False),
        "CD": (True, True),
        "CE": (True, False),
        "CF": (True, True),
        "CG": (False, False),
        "CH": (True, False),
        "CZ": (True, False),
    }
    for ref, (consent, parent) in consents.items():
        set_presentation_consent(ref=ref, consent=consent, parent_consent=parent, actor="test", engine=engine)
